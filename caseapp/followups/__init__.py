"""Follow-ups (lần theo dõi): the plans transitions create, their outcomes, reminders."""
