"""Settings of the connectors app, with their defaults (override in config/settings;
the ones read from the environment are in config/settings/base.py and .env.example)."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULTS = {
    # Seconds to open a TCP+TLS connection, and to wait for each read of the answer.
    "WARDEN_CONNECTORS_CONNECT_TIMEOUT": 5.0,
    "WARDEN_CONNECTORS_READ_TIMEOUT": 20.0,
    # Attempts per call (the first one included) for answers worth retrying.
    "WARDEN_CONNECTORS_MAX_ATTEMPTS": 4,
    # Exponential backoff with full jitter: a random wait up to min(cap, base * 2**n).
    "WARDEN_CONNECTORS_BACKOFF_BASE": 0.5,
    "WARDEN_CONNECTORS_BACKOFF_CAP": 30.0,
    # A Retry-After longer than this is not slept through in the worker: the call fails
    # with `retry_after` so the task can be retried later.
    "WARDEN_CONNECTORS_MAX_RETRY_AFTER": 60,
    # Circuit breaker, per connector: open after this many failed attempts in a row,
    # for this many seconds; then one trial call decides.
    "WARDEN_CONNECTORS_BREAKER_FAILURES": 5,
    "WARDEN_CONNECTORS_BREAKER_SECONDS": 60,
    # Loopback fake services (tests, demo). Production settings refuse True.
    "WARDEN_CONNECTORS_ALLOW_LOOPBACK": False,
    # (host, port) -> [address, ...]; tests point it at a fake DNS.
    "WARDEN_CONNECTORS_RESOLVER": "apps.connectors.guard.system_resolver",
    # Recent calls are kept this many days (dead letters and usage are kept).
    "WARDEN_CONNECTORS_CALL_RETENTION_DAYS": 14,
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])


def resolver():
    value = get("WARDEN_CONNECTORS_RESOLVER")
    return import_string(value) if isinstance(value, str) else value


def allow_loopback() -> bool:
    return bool(get("WARDEN_CONNECTORS_ALLOW_LOOPBACK"))
