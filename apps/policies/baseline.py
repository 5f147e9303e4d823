"""The rule set every new tenant starts with (docs/policies.md explains each rule).

Plain data, so it is easy to read, diff and test. Anything not allowed here is denied.
"""

from __future__ import annotations

# Statuses a requester may move their own ticket to (reopen, cancel). The tickets
# service passes the target status as `context={"to": <status>}`.
REQUESTER_TRANSITION_TARGETS = ["open", "cancelled"]

CONNECTOR_WRITE_CAP = {"limit": 50, "window": 3600, "scope": "connector"}

BASELINE_COMMENT = "Baseline rules installed at provisioning"

BASELINE_RULES: list[dict] = [
    {
        "name": "system may do everything",
        "subject": "system",
        "action": "*",
        "effect": "allow",
        "priority": 0,
    },
    {
        "name": "admins may do everything",
        "subject": "role:admin",
        "action": "*",
        "effect": "allow",
        "priority": 0,
    },
    {
        "name": "agents work tickets",
        "subject": "role:agent",
        "action": "ticket.*",
        "effect": "allow",
        "priority": 0,
    },
    {
        "name": "requesters open tickets",
        "subject": "role:requester",
        "action": "ticket.create",
        "effect": "allow",
        "priority": 0,
    },
    {
        "name": "requesters see their own tickets",
        "subject": "role:requester",
        "action": "ticket.view",
        "effect": "allow",
        "priority": 0,
        "conditions": [{"field": "resource.requester_id", "op": "is_actor"}],
    },
    {
        "name": "requesters comment on their own tickets",
        "subject": "role:requester",
        "action": "ticket.comment",
        "effect": "allow",
        "priority": 0,
        "conditions": [{"field": "resource.requester_id", "op": "is_actor"}],
    },
    {
        "name": "requesters reopen or cancel their own tickets",
        "subject": "role:requester",
        "action": "ticket.transition",
        "effect": "allow",
        "priority": 0,
        "conditions": [
            {"field": "resource.requester_id", "op": "is_actor"},
            {"field": "context.to", "op": "in", "value": REQUESTER_TRANSITION_TARGETS},
        ],
    },
    {
        # Higher priority than the broad rules above: it decides connector writes alone,
        # so its obligations cannot be bypassed by "admins may do everything".
        "name": "connector writes need approval and are capped",
        "subject": ["system", "role:admin", "role:agent"],
        "action": "connector.write",
        "effect": "allow",
        "priority": 10,
        "obligations": {"require_approval": True, "cap": CONNECTOR_WRITE_CAP},
    },
    {
        # Redundant with "admins may do everything" on purpose: removing that rule must
        # not silently take exports away, and nobody else gets them.
        "name": "only admins export",
        "subject": "role:admin",
        "action": "export.create",
        "effect": "allow",
        "priority": 0,
    },
]
