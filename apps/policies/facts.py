"""Facts: what the rules read about the actor, the resource, the call and the tenant.

`LiveFacts` reads from real objects (lazily, each key at most once) and remembers
every value it read; that memory is the snapshot a `DecisionLog` row keeps.
`RecordedFacts` replays such a snapshot for simulation and raises `UnknownFact` for a
key that was never recorded, so a draft that reads something new is reported as
"unknown" instead of being guessed.

Reading is deliberately narrow (the "safe getter"): dotted paths walk dict keys and
plain attributes only; names starting with `_` are refused; methods are never called;
values are turned into JSON (model instances become their slug, name or pk; related
managers become lists of those). A getter that raises makes the decision fail closed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from django.db import DatabaseError, connection
from django.db.models import Manager, Model, QuerySet

from .engine import SECRET_SEGMENT, UnknownFact
from .subjects import KIND_USER, actor_facts

logger = logging.getLogger(__name__)

MAX_COLLECTION_ITEMS = 200
MAX_VALUE_DEPTH = 3


class FactError(ValueError):
    """A path that cannot be read safely (private name, method, unsupported value)."""


def model_label(obj: Model) -> Any:
    """How a related object appears in facts: its slug, else its name, else its pk."""
    for attribute in ("slug", "name"):
        value = getattr(obj, attribute, None)
        if isinstance(value, str) and value:
            return value
    return obj.pk


def to_fact(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of `value`, or FactError."""
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Model):
        return model_label(value)
    if isinstance(value, Manager):
        value = value.all()
    if isinstance(value, QuerySet):
        return [model_label(item) for item in value[:MAX_COLLECTION_ITEMS]]
    if depth >= MAX_VALUE_DEPTH:
        raise FactError("value is nested too deep")
    if isinstance(value, set | frozenset):
        return sorted((to_fact(item, depth + 1) for item in value), key=repr)
    if isinstance(value, list | tuple):
        return [to_fact(item, depth + 1) for item in list(value)[:MAX_COLLECTION_ITEMS]]
    if isinstance(value, Mapping):
        return {str(key): to_fact(item, depth + 1) for key, item in list(value.items())[:MAX_COLLECTION_ITEMS]}
    raise FactError(f"cannot use a {type(value).__name__} value in a rule")


def _step(obj: Any, segment: str) -> Any:
    if segment.startswith("_"):
        raise FactError(f"{segment!r} is private")
    if SECRET_SEGMENT.search(segment):
        raise FactError(f"{segment!r} looks like a secret")
    if isinstance(obj, Mapping):
        return obj.get(segment)
    if isinstance(obj, Manager | QuerySet):
        raise FactError(f"cannot read {segment!r} through a collection")
    value = getattr(obj, segment, None)
    if isinstance(value, Manager):
        return value
    if callable(value):
        raise FactError(f"{segment!r} is a method, not a value")
    return value


def safe_get(obj: Any, path: str) -> Any:
    """The value at dotted `path` inside `obj` (dict keys or attributes), as a fact.

    A missing key or attribute reads as None. Exceptions other than AttributeError
    raised by a property propagate (the decision then fails closed).
    """
    current = obj
    for segment in path.split("."):
        if current is None:
            return None
        current = _step(current, segment)
    return to_fact(current)


def resource_ref(resource: Any) -> tuple[str, str]:
    """(type, id) of a resource for the log: `tickets.ticket`/`42`; never raises."""
    try:
        if resource is None:
            return "", ""
        if isinstance(resource, Model):
            meta = resource._meta
            return f"{meta.app_label}.{meta.model_name}", "" if resource.pk is None else str(resource.pk)
        if isinstance(resource, Mapping):
            return str(resource.get("type", "dict"))[:100], str(resource.get("id", "") or "")[:100]
        identifier = getattr(resource, "pk", None) or getattr(resource, "id", None) or ""
        return type(resource).__name__[:100], str(identifier)[:100]
    except Exception:  # a log reference must never break a decision
        return type(resource).__name__[:100], ""


def current_region() -> str | None:
    """The current tenant's region; schema_context() leaves a tenant without one."""
    region = getattr(getattr(connection, "tenant", None), "region", None)
    if region is not None:
        return str(region)
    from apps.tenants.models import Tenant

    return Tenant.objects.filter(schema_name=connection.schema_name).values_list("region", flat=True).first()


class LiveFacts:
    """Reads facts from the objects of one decision and remembers what it read."""

    def __init__(self, *, actor: Any, resource: Any, context: Mapping | None):
        self.actor = actor
        self.resource = resource
        self.context = context or {}
        self.values: dict[str, Any] = actor_facts(actor)

    def read(self, key: str) -> Any:
        if key in self.values:
            return self.values[key]
        value = self._load(key)
        self.values[key] = value
        return value

    def _load(self, key: str) -> Any:
        if key == "actor.teams":
            return self._teams()
        if key == "tenant.region":
            return current_region()
        root, _, path = key.partition(".")
        if root == "resource":
            return safe_get(self.resource, path)
        if root == "context":
            return safe_get(self.context, path)
        raise UnknownFact(key)

    def _teams(self) -> list[int]:
        if self.values["actor.kind"] != KIND_USER:
            return []
        return sorted(self.actor.teams.values_list("pk", flat=True))

    def top_up(self, keys: Iterable[str]) -> None:
        """Also record `keys` (for later simulation); a key that fails is left out."""
        for key in keys:
            if key in self.values:
                continue
            try:
                self.read(key)
            except DatabaseError:
                raise
            except Exception as exc:  # not needed for this verdict: keep the decision
                logger.debug("fact %s not recorded: %s", key, type(exc).__name__)

    def snapshot(self) -> dict[str, Any]:
        return dict(sorted(self.values.items()))


class RecordedFacts:
    """Replays a stored snapshot."""

    def __init__(self, facts: Mapping[str, Any]):
        self.facts = facts

    def read(self, key: str) -> Any:
        if key in self.facts:
            return self.facts[key]
        raise UnknownFact(key)
