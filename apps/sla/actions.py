"""Policy actions of the SLA app. Registered from SlaConfig.ready()."""

from __future__ import annotations

SLA_CONFIGURE = "sla.configure"
SLA_ESCALATE = "sla.escalate"
SLA_SIMULATE = "sla.simulate"

ACTIONS = {
    SLA_CONFIGURE: "Create and change SLA policies and calendars",
    SLA_ESCALATE: "Run an SLA escalation step on a ticket (context: step action, threshold, metric)",
    SLA_SIMULATE: "Replay recent tickets through a draft SLA policy (what-if)",
}


def register() -> None:
    from apps.policies.actions import register_action

    for name, description in ACTIONS.items():
        register_action(name, description)
