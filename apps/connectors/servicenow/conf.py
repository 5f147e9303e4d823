"""Settings of the ServiceNow connector kind, with their defaults (override in
config/settings; none of them is read from the environment)."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # Incidents asked for per page (sysparm_limit); the Table API allows up to 10,000.
    "WARDEN_SERVICENOW_PAGE_SIZE": 500,
    # Each poll re-reads the records updated this many seconds before the watermark:
    # changes committed late in ServiceNow (long transactions, clock skew) are not lost.
    # Re-read records are recognised by (sys_id, sys_mod_count) and skipped.
    "WARDEN_SERVICENOW_OVERLAP_SECONDS": 120,
    # Bounds of one poll run: pages and seconds. A run that stops on a bound says
    # `more` and the periodic task runs again.
    "WARDEN_SERVICENOW_MAX_PAGES": 250,
    "WARDEN_SERVICENOW_RUN_SECONDS": 240,
    # One poll per connector at a time: a run holds a lease this long (a crashed worker's
    # lease expires).
    "WARDEN_SERVICENOW_LEASE_SECONDS": 600,
    # How often beat polls every enabled ServiceNow connector.
    "WARDEN_SERVICENOW_POLL_SECONDS": 120,
    # A write-back can be undone this many hours after it was sent.
    "WARDEN_SERVICENOW_UNDO_HOURS": 24,
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])
