"""Sign-in, sign-out, passwords and server-side sessions."""
