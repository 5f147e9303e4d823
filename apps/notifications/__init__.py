"""Notifications: every person hears about what concerns them, once, in their language, on
the channels they chose (in the app, email, Slack). A subscriber of the event outbox; see
docs/notifications.md."""
