"""Settings of the events app, with their defaults (override in config/settings)."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # How often beat sends the relay sweep to every tenant (seconds): it delivers what the
    # kick on commit missed (Redis or the workers were down) and retries failed deliveries.
    "WARDEN_EVENTS_RELAY_SECONDS": 30,
    "WARDEN_EVENTS_RELAY_JITTER_SECONDS": 5,
    # Deliveries claimed per transaction, and how long one relay task works before it
    # hands over to a fresh task (well inside CELERY_TASK_SOFT_TIME_LIMIT).
    "WARDEN_EVENTS_RELAY_BATCH": 500,
    "WARDEN_EVENTS_RELAY_BUDGET_SECONDS": 30,
    # A claimed delivery whose worker died is claimed again after this long.
    "WARDEN_EVENTS_LEASE_SECONDS": 60,
    # Attempts before a delivery is dead-lettered; the wait before attempt n+1 is
    # BACKOFF * 2**(n-1) seconds, +-25 % jitter, at most BACKOFF_MAX.
    "WARDEN_EVENTS_MAX_ATTEMPTS": 8,
    "WARDEN_EVENTS_BACKOFF_SECONDS": 5,
    "WARDEN_EVENTS_BACKOFF_MAX_SECONDS": 3600,
    # Delivered events (and their deliveries) are removed after this many days; failed
    # and dead-lettered ones stay until retried or removed by an admin.
    "WARDEN_EVENTS_RETENTION_DAYS": 30,
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])
