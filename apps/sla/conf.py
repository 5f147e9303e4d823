"""Settings of the SLA app, with their defaults (override in config/settings)."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # How often beat sends the sweep to every tenant (seconds), and its jitter.
    "WARDEN_SLA_SWEEP_SECONDS": 30,
    "WARDEN_SLA_SWEEP_JITTER_SECONDS": 5,
    # Clocks handled per sweep statement; a sweep repeats statements until done, or until
    # its budget is spent (then the next sweep task goes on).
    "WARDEN_SLA_SWEEP_BATCH": 50_000,
    "WARDEN_SLA_SWEEP_BUDGET_SECONDS": 60,
    # Tickets whose pending events (notifications, escalations) are handled per transaction
    # by `sla_events_process` (the operator's catch-up; the outbox relay does it normally).
    "WARDEN_SLA_PROCESS_BATCH": 200,
    # A running clock is "at risk" (amber badge) from this share of its target on.
    "WARDEN_SLA_AT_RISK_PERCENT": 75,
    # What-if simulator limits.
    "WARDEN_SLA_SIMULATION_MAX_DAYS": 90,
    "WARDEN_SLA_SIMULATION_MAX_TICKETS": 20_000,
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])
