"""Domain events: typed, versioned, ids only. Pure Python, no ORM.

An app owns the events it emits and declares them in its own `events.py`:

    @event_type("ticket.created", version=1, summary="A ticket was opened.")
    class TicketCreated(DomainEvent):
        ticket_id: int

A `DomainEvent` is a frozen, keyword-only dataclass. Its payload is its fields; they
may only be ids and short identifiers (ints, bools, enum values, field names, lists of
those): never content. A title, a comment body or an email address has no place in an
event; a consumer that needs them loads them through the owning app's selectors, where
visibility rules apply. Strings are capped at `MAX_STRING` characters to keep it so.

The registry (`EVENT_TYPES`) lists every event type with its payload schema (JSON
Schema); `docs/events.md` is generated from it (`manage.py events_doc`).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

NAME = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
MAX_STRING = 64


class EventInvalid(ValueError):
    """An event that does not match its declaration (a programming error)."""


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base class of every domain event (see the module docstring)."""

    event_type: ClassVar[str] = ""
    version: ClassVar[int] = 0

    def payload(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_payload(cls, payload: dict[str, Any], version: int) -> DomainEvent:
        """The typed event from a stored payload. A payload of an older version is
        upgraded by the class's `upgrade(payload, from_version)` when it defines one."""
        if version != cls.version:
            upgrade = getattr(cls, "upgrade", None)
            if upgrade is None:
                raise EventInvalid(f"{cls.event_type} v{version} is stored; only v{cls.version} is understood")
            payload = upgrade(dict(payload), version)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in names})


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list | frozenset | set):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, str | int):  # enums
        return value.value
    return value


@dataclass(frozen=True)
class EventSpec:
    name: str
    version: int
    summary: str
    owner: str  # the app label that emits it
    cls: type[DomainEvent]
    fields: tuple[tuple[str, Any], ...]  # (name, annotation) in declaration order

    def schema(self) -> dict[str, Any]:
        """The payload's JSON Schema."""
        hints = typing.get_type_hints(self.cls)
        properties = {name: _json_type(hints[name]) for name, _ in self.fields}
        required = [
            f.name
            for f in dataclasses.fields(self.cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


class EventRegistry:
    """Event type name -> EventSpec. Filled at import of each app's `events.py`."""

    def __init__(self) -> None:
        self._specs: dict[str, EventSpec] = {}

    def add(self, spec: EventSpec) -> None:
        existing = self._specs.get(spec.name)
        if existing is not None and existing.cls is not spec.cls and existing.cls.__qualname__ != spec.cls.__qualname__:
            raise ValueError(f"event type {spec.name!r} is already declared by {existing.cls.__qualname__}")
        self._specs[spec.name] = spec

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[EventSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str) -> EventSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise EventInvalid(f"unknown event type {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._specs)


EVENT_TYPES = EventRegistry()

_ALLOWED = (int, bool, str)


def _check_annotation(event: str, name: str, annotation: Any) -> None:
    """Only ids and identifiers: int, bool, str, lists of them, or any of these | None."""
    origin = typing.get_origin(annotation)
    if annotation in _ALLOWED:
        return
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                _check_annotation(event, name, arg)
        return
    if origin in (list, tuple) and all(arg in _ALLOWED or arg is Ellipsis for arg in typing.get_args(annotation)):
        return
    if origin is typing.Literal:
        return
    raise TypeError(f"{event}.{name}: {annotation!r} is not an id or identifier type (int, bool, str, lists of them)")


def _json_type(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is str:
        return {"type": "string", "maxLength": MAX_STRING}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(annotation))}
    if origin in (typing.Union, types.UnionType):
        options = [_json_type(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        nullable = type(None) in typing.get_args(annotation)
        schema = options[0] if len(options) == 1 else {"anyOf": options}
        if nullable:
            schema = {"anyOf": [schema, {"type": "null"}]}
        return schema
    if origin in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return {"type": "array", "items": _json_type(args[0]) if args else {}}
    raise TypeError(f"no JSON type for {annotation!r}")


def event_type(name: str, *, version: int = 1, summary: str) -> Callable[[type[DomainEvent]], type[DomainEvent]]:
    """Declare a DomainEvent subclass as the event type `name` (version `version`)."""
    if not NAME.match(name):
        raise ValueError(f"invalid event type {name!r}: use dotted lower case like 'ticket.created'")
    if version < 1:
        raise ValueError("versions start at 1")

    def declare(cls: type[DomainEvent]) -> type[DomainEvent]:
        if not issubclass(cls, DomainEvent):
            raise TypeError(f"{cls.__qualname__} must subclass DomainEvent")
        cls = dataclass(frozen=True, kw_only=True)(cls)
        cls.event_type, cls.version = name, version
        hints = typing.get_type_hints(cls)
        fields = tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))
        for field_name, annotation in fields:
            _check_annotation(name, field_name, annotation)
        owner = cls.__module__.split(".")[1] if cls.__module__.startswith("apps.") else cls.__module__
        EVENT_TYPES.add(EventSpec(name=name, version=version, summary=summary.strip(), owner=owner, cls=cls, fields=fields))
        return cls

    return declare


def validate(event: DomainEvent) -> dict[str, Any]:
    """The event's payload, checked against its declaration (types, string lengths)."""
    spec = EVENT_TYPES._specs.get(event.event_type)
    if spec is None or spec.cls is not type(event):
        raise EventInvalid(f"{type(event).__qualname__} is not a declared event type")
    payload = event.payload()
    for name, annotation in spec.fields:
        if not _value_fits(payload[name], annotation):
            raise EventInvalid(f"{event.event_type}.{name}: {payload[name]!r} does not fit {annotation!r}")
    return payload


def _value_fits(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_value_fits(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str) and len(value) <= MAX_STRING
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if origin in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return isinstance(value, list) and all(_value_fits(v, args[0]) for v in value) if args else isinstance(value, list)
    return False
