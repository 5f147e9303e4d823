"""Plug points of the tickets app for the apps above it.

A higher app (SLA today; triage or CSAT later) adds a block to every ticket the API
returns without tickets importing it: it registers, from its `AppConfig.ready()`, a
read-only serializer field and what the ticket queries must load for it (a prefetch),
so that lists stay at a fixed number of queries.

    register_ticket_field(TicketField(name="sla", field=make_sla_field, prefetch=clock_prefetch))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TicketField:
    name: str  # the key in the ticket's API representation
    field: Callable[[], Any]  # builds the read-only DRF field (source="*": it gets the ticket)
    prefetch: Callable[[], Any] | None = None  # a Prefetch (or lookup) the selectors apply


_FIELDS: dict[str, TicketField] = {}


def register_ticket_field(extension: TicketField) -> None:
    _FIELDS[extension.name] = extension


def ticket_fields() -> tuple[TicketField, ...]:
    return tuple(_FIELDS.values())


def ticket_prefetches() -> list[Any]:
    """What every ticket list and detail loads for the registered fields."""
    return [extension.prefetch() for extension in _FIELDS.values() if extension.prefetch is not None]


# --- Who else may read a ticket ------------------------------------------------------------
#
# A requester reads their own tickets. A higher app may let them read others too (the
# notifications app: the tickets a colleague copied them in on): it registers a function
# of the person giving a Q over Ticket, OR-ed with "their own".

_READERS: dict[str, Callable[[Any], Any]] = {}


def register_requester_access(name: str, condition: Callable[[Any], Any]) -> None:
    _READERS[name] = condition


def requester_access() -> tuple[Callable[[Any], Any], ...]:
    return tuple(_READERS.values())
