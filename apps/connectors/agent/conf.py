"""Settings of the customer agent, with their defaults (the environment sets the first
four through config/settings/base.py; docs/connectors.md, "Customer agent")."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # The longest a poll waits for work before answering "nothing" (seconds). A waiting
    # poll holds a web worker (sync gunicorn): keep it short.
    "WARDEN_CONNECTORS_AGENT_POLL_SECONDS": 20,
    # The longest ConnectorClient waits for an agent's answer to one attempt (seconds).
    "WARDEN_CONNECTORS_AGENT_WAIT_SECONDS": 60,
    # How long an agent holds a claimed call; a call whose lease ran out is claimed again
    # (once, and only when it is safe to send twice).
    "WARDEN_CONNECTORS_AGENT_LEASE_SECONDS": 30,
    # A call is refused at once when its agent has not polled for this long (seconds).
    "WARDEN_CONNECTORS_AGENT_OFFLINE_SECONDS": 60,
    # Claims per call: the first one and one more after a lease ran out.
    "WARDEN_CONNECTORS_AGENT_MAX_CLAIMS": 2,
    # Calls handed out per poll, and results accepted per post.
    "WARDEN_CONNECTORS_AGENT_BATCH": 10,
    # The largest answer body an agent may bring back (bytes).
    "WARDEN_CONNECTORS_AGENT_MAX_BODY_BYTES": 1024 * 1024,
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])


def seconds(name: str) -> float:
    return max(0.0, float(get(name)))
