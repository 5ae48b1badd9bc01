"""The one scheduler process: a leader lock, jobs defined in code, a heartbeat (SECURITY §2)."""
