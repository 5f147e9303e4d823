"""Settings of the tickets app, with their defaults (override in config/settings)."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # A ticket can be reopened again only this long after its last reopen.
    "WARDEN_TICKETS_REOPEN_COOLDOWN_SECONDS": 600,
    # One comment per user per this many seconds.
    "WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS": 5,
    "WARDEN_TICKETS_TITLE_MAX_CHARS": 200,
    "WARDEN_TICKETS_BODY_MAX_BYTES": 50 * 1024,
    "WARDEN_TICKETS_REASON_MAX_CHARS": 2000,
    # Signed attachment download URLs live this long.
    "WARDEN_TICKETS_DOWNLOAD_TTL_SECONDS": 300,
    # An agent's search ranks about this many of its newest matches (and the ticket whose
    # number was typed); older matches follow, newest first (apps/tickets/search.py, ADR 0020).
    "WARDEN_TICKETS_SEARCH_RANKED_MAX": 500,
    "WARDEN_TICKETS_MAX_TAGS": 20,
    "WARDEN_TICKETS_MAX_ATTACHMENTS_PER_TICKET": 50,
    # Auto-close (the days are each tenant's help-desk setting): how often beat runs it in
    # every tenant, tickets per batch, seconds per task before it hands over to a new task
    # (well under CELERY_TASK_SOFT_TIME_LIMIT), refusals after which a run gives up.
    "WARDEN_TICKETS_AUTOCLOSE_EVERY_SECONDS": 3600,
    "WARDEN_TICKETS_AUTOCLOSE_JITTER_SECONDS": 300,
    "WARDEN_TICKETS_AUTOCLOSE_BATCH": 200,
    "WARDEN_TICKETS_AUTOCLOSE_BUDGET_SECONDS": 60,
    "WARDEN_TICKETS_AUTOCLOSE_MAX_FAILURES": 20,
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])
