"""Settings of the notifications app, with their defaults (override in config/settings)."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # Emails about one ticket to one person within this many seconds go out as one.
    "WARDEN_NOTIFICATIONS_EMAIL_BURST_SECONDS": 60,
    # How often the desk and portal ask for the unread count (htmx polling).
    "WARDEN_NOTIFICATIONS_POLL_SECONDS": 30,
    # Slack Web API base URL (tests point it at a fake on 127.0.0.1).
    "WARDEN_SLACK_API_URL": "https://slack.com/api/",
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])


def slack_connected() -> bool:
    """Whether the current tenant has a working Slack workspace."""
    from .models import SlackWorkspace

    return SlackWorkspace.objects.filter(enabled=True).exists()
