"""The registry of actions the policy engine knows about. Pure Python, no ORM.

Every action a service asks `policy_require` about must be registered here first;
deciding on an unregistered name is an evaluation error (and so a denial). Apps add
their own actions from `AppConfig.ready()`:

    from apps.policies.actions import register_action
    register_action("sla.configure", "Change SLA policies and calendars")

Names are dotted, lower case: `<area>.<verb>`. Rules refer to one action, to every
action of an area (`ticket.*`) or to everything (`*`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from enum import StrEnum

ACTION_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MATCH_ALL = "*"


class Action(StrEnum):
    """The built-in actions, for callers that prefer a constant to a string."""

    TICKET_CREATE = "ticket.create"
    TICKET_VIEW = "ticket.view"
    TICKET_TRANSITION = "ticket.transition"
    TICKET_ASSIGN = "ticket.assign"
    TICKET_COMMENT = "ticket.comment"
    CONNECTOR_WRITE = "connector.write"
    EXPORT_CREATE = "export.create"
    AUTOMATION_RUN = "automation.run"
    POLICY_CHANGE = "policy.change"
    USER_MANAGE = "user.manage"
    TENANT_SECURITY = "tenant.security"
    TENANT_CONFIGURE = "tenant.configure"


BUILTIN_DESCRIPTIONS: dict[Action, str] = {
    Action.TICKET_CREATE: "Open a ticket",
    Action.TICKET_VIEW: "See a ticket and its public comments",
    Action.TICKET_TRANSITION: "Move a ticket to another status (context: to)",
    Action.TICKET_ASSIGN: "Assign a ticket to a person or team",
    Action.TICKET_COMMENT: "Comment on a ticket",
    Action.CONNECTOR_WRITE: "Write to an external system through a connector (context: connector)",
    Action.EXPORT_CREATE: "Export data out of Warden",
    Action.AUTOMATION_RUN: "Run an automation or workflow",
    Action.POLICY_CHANGE: "Change governance policies",
    Action.USER_MANAGE: "Create users, change roles and teams",
    Action.TENANT_SECURITY: "Change the organisation's security settings (MFA required for admins)",
    Action.TENANT_CONFIGURE: "Change the organisation's settings (its time zone)",
}


class UnknownAction(LookupError):
    """A decision was asked about an action nobody registered (a bug: fails closed)."""


@dataclass(frozen=True)
class ActionSpec:
    name: str
    description: str


class ActionRegistry:
    """Name -> ActionSpec. Filled at import and from AppConfig.ready(); read everywhere."""

    def __init__(self) -> None:
        self._specs: dict[str, ActionSpec] = {}
        self._lock = threading.Lock()

    def register(self, name: str, description: str) -> ActionSpec:
        if not ACTION_NAME.match(name):
            raise ValueError(f"invalid action name {name!r}: use dotted lower case like 'ticket.create'")
        if not description.strip():
            raise ValueError(f"action {name!r} needs a description")
        spec = ActionSpec(name=name, description=description.strip())
        with self._lock:
            existing = self._specs.get(name)
            if existing is not None and existing != spec:
                raise ValueError(f"action {name!r} is already registered as {existing.description!r}")
            self._specs[name] = spec
        return spec

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self):
        return iter(sorted(self._specs))

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str) -> ActionSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def matching(self, pattern: str) -> list[str]:
        """Registered names a rule's action pattern covers."""
        return [name for name in self.names() if action_matches(pattern, name)]


def action_matches(pattern: str, action: str) -> bool:
    """`*` covers everything, `area.*` every action under `area.`, anything else itself."""
    if pattern == MATCH_ALL:
        return True
    if pattern.endswith(".*"):
        return action.startswith(pattern[:-1])
    return pattern == action


def pattern_is_valid(pattern: str) -> bool:
    """Syntax only: `*`, `area.*` (`area` itself dotted lower case is fine) or a full name."""
    if pattern == MATCH_ALL:
        return True
    if pattern.endswith(".*"):
        return bool(re.match(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", pattern[:-2]))
    return bool(ACTION_NAME.match(pattern))


ACTIONS = ActionRegistry()


def register_action(name: str, description: str) -> ActionSpec:
    return ACTIONS.register(name, description)


for _action, _description in BUILTIN_DESCRIPTIONS.items():
    register_action(_action.value, _description)
