"""Who is acting: a tenant user, an integration, or the system.

* A `User` of the current tenant (`apps.accounts.models.User`) is matched by role, id
  and team. An inactive user matches no subject, not even `*`.
* An `Integration("servicenow")` is a machine identity (a connector, a Slack app, an
  API client acting for itself); it is matched by `integration:<name>` and by `*`.
* `None` is the system: Celery beat sweeps, migrations, provisioning, operator
  commands. It is NOT trusted implicitly: it matches `system` and `*`, and the
  baseline grants it everything with one rule that a tenant admin can narrow.
* Anything unauthenticated (Django's AnonymousUser) matches no subject at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .engine import INTEGRATION_NAME

KIND_USER = "user"
KIND_INTEGRATION = "integration"
KIND_SYSTEM = "system"
KIND_ANONYMOUS = "anonymous"
SYSTEM_LABEL = "system"


@dataclass(frozen=True)
class Integration:
    """A machine identity, named like a connector: `Integration("servicenow")`."""

    name: str

    def __post_init__(self) -> None:
        if not INTEGRATION_NAME.match(self.name or ""):
            raise ValueError(f"invalid integration name {self.name!r}: lower case letters, digits, - and _")

    def __str__(self) -> str:
        return f"integration:{self.name}"


def _is_user(actor: Any) -> bool:
    return getattr(actor, "is_authenticated", False) is True and hasattr(actor, "role")


def actor_kind(actor: Any) -> str:
    if actor is None:
        return KIND_SYSTEM
    if isinstance(actor, Integration):
        return KIND_INTEGRATION
    if _is_user(actor):
        return KIND_USER
    if getattr(actor, "is_authenticated", None) is False:
        return KIND_ANONYMOUS
    raise TypeError(f"cannot decide for an actor of type {type(actor).__name__}")


def actor_label(actor: Any) -> str:
    """A short, stable description for logs: `user:12`, `integration:slack`, `system`."""
    try:
        kind = actor_kind(actor)
    except TypeError:
        return f"unknown:{type(actor).__name__}"
    if kind == KIND_USER:
        return f"user:{actor.pk}"
    if kind == KIND_INTEGRATION:
        return str(actor)
    return kind


def actor_facts(actor: Any) -> dict[str, Any]:
    """The actor facts that cost nothing to read (teams are read lazily, see facts.py)."""
    kind = actor_kind(actor)
    facts: dict[str, Any] = {
        "actor.kind": kind,
        "actor.id": None,
        "actor.role": None,
        "actor.active": kind in (KIND_SYSTEM, KIND_INTEGRATION),
        "actor.integration": None,
    }
    if kind == KIND_USER:
        facts["actor.id"] = actor.pk
        facts["actor.role"] = str(actor.role)
        facts["actor.active"] = bool(actor.is_active)
    if kind == KIND_INTEGRATION:
        facts["actor.integration"] = actor.name
    return facts
