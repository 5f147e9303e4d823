"""`emit()`: a domain event into the outbox, in the caller's transaction.

A service emits after its business write and its audit event, inside its transaction:

    audit_record(actor=actor, action="ticket.created", target=ticket, payload=...)
    emit(TicketCreated(ticket_id=ticket.pk), actor=actor, instances=[ticket])

One statement writes the event row and a delivery row per subscriber of its type, so
both exist exactly when the write commits (a rollback leaves neither). The in-transaction
handlers run next, in the same transaction (a failing handler fails the write). Once the
transaction commits, the relay is kicked through Celery; if that kick is lost (Redis or
the workers are down), the periodic relay sweep delivers instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model
from psycopg.types.json import Jsonb

from apps.core import request_id

from .. import context
from ..consumers import CONSUMERS, EmitContext
from ..models import Delivery, OutboxEvent
from ..types import DomainEvent, validate
from .kick import kick_on_commit

logger = logging.getLogger(__name__)


class OutsideTransaction(RuntimeError):
    """`emit()` was called outside a transaction: the event could outlive a rolled-back
    write, or exist without it. Emit inside the service's `transaction.atomic`."""


class OutsideTenant(RuntimeError):
    """Events belong to a tenant; the public schema has no outbox."""


_SQL: str | None = None


def _insert_sql() -> str:
    global _SQL
    if _SQL is None:
        quote = connection.ops.quote_name
        event, delivery = quote(OutboxEvent._meta.db_table), quote(Delivery._meta.db_table)
        _SQL = (
            f"WITH e AS (INSERT INTO {event} "
            "(event_type, version, payload, actor_id, actor_label, request_id, causation_id, trail, occurred_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now()) RETURNING id, occurred_at), "
            f"d AS (INSERT INTO {delivery} (event_id, subscriber, status, attempts, next_attempt_at, last_error, "
            "created_at, updated_at) "
            "SELECT e.id, s.name, 'pending', 0, e.occurred_at, '', e.occurred_at, e.occurred_at "
            "FROM e CROSS JOIN unnest(%s::varchar[]) AS s(name)) "
            "SELECT id FROM e"
        )
    return _SQL


def _actor_fields(actor) -> tuple[int | None, str]:
    if actor is None:
        return None, "system"
    if isinstance(actor, str):
        return None, actor[:200]
    pk = getattr(actor, "pk", None)
    email = getattr(actor, "email", "") or ""
    return pk, (f"user:{pk}" if pk is not None else email or type(actor).__name__)[:200]


def emit(event: DomainEvent, *, actor: Any = None, instances: Iterable[Model] = ()) -> int:
    """Write `event` to the outbox (and its deliveries), run the in-transaction handlers,
    and kick the relay after commit. Returns the event's id.

    `actor` is the user who acted (None: the system, or, inside an in-transaction
    handler, the actor of the event it handles; a string: an operator label).
    `instances` are model instances the caller already holds (the ticket it just saved):
    in-transaction handlers use them instead of loading them again. They are never stored:
    the event carries ids only.
    """
    if not connection.in_atomic_block:
        raise OutsideTransaction(f"emit({event.event_type}) must run inside the writing service's transaction")
    if connection.schema_name == "public":
        raise OutsideTenant(f"emit({event.event_type}) needs a tenant schema")
    payload = validate(event)
    cause = context.current()
    trail = cause.trail if cause is not None else ()
    if actor is None and cause is not None:
        actor = cause.actor
    subscribers = CONSUMERS.subscribers_for(event.event_type, trail=trail)
    actor_id, actor_label = _actor_fields(actor)
    with connection.cursor() as cursor:
        cursor.execute(
            _insert_sql(),
            [
                event.event_type,
                event.version,
                Jsonb(payload),
                actor_id,
                actor_label,
                request_id.current() or "",
                cause.event_id if cause is not None else None,
                list(trail),
                subscribers,
            ],
        )
        event_id = int(cursor.fetchone()[0])
    handlers = CONSUMERS.handlers_for(event.event_type)
    if handlers:
        loaded = {(type(obj), obj.pk): obj for obj in instances}
        ctx = EmitContext(event_id=event_id, actor=None if isinstance(actor, str) else actor, instances=loaded)
        for handler in handlers:
            with context.handling(event_id=event_id, trail=trail, consumer=handler.name, actor=actor):
                handler.handle(event, ctx)
    if subscribers:
        kick_on_commit()
    return event_id


_MANY_SQL: str | None = None


def _insert_many_sql() -> str:
    global _MANY_SQL
    if _MANY_SQL is None:
        quote = connection.ops.quote_name
        event, delivery = quote(OutboxEvent._meta.db_table), quote(Delivery._meta.db_table)
        _MANY_SQL = (
            f"WITH e AS (INSERT INTO {event} "
            "(event_type, version, payload, actor_id, actor_label, request_id, causation_id, trail, occurred_at) "
            "SELECT t.event_type, t.version, t.payload, %s, %s, %s, %s, %s, now() "
            "FROM unnest(%s::varchar[], %s::integer[], %s::jsonb[]) WITH ORDINALITY AS t(event_type, version, payload, n) "
            "ORDER BY t.n RETURNING id, event_type, occurred_at), "
            f"d AS (INSERT INTO {delivery} (event_id, subscriber, status, attempts, next_attempt_at, last_error, "
            "created_at, updated_at) "
            "SELECT e.id, s.name, 'pending', 0, e.occurred_at, '', e.occurred_at, e.occurred_at FROM e "
            "JOIN unnest(%s::varchar[], %s::varchar[]) AS s(event_type, name) ON s.event_type = e.event_type) "
            "SELECT id FROM e ORDER BY id"
        )
    return _MANY_SQL


def emit_many(events: Sequence[DomainEvent], *, actor: Any = None) -> list[int]:
    """`emit()` for many events at once (a fan-out announcing a message per person): one
    statement writes them all with their deliveries. Same rules as `emit()`; an event type
    with in-transaction handlers goes through `emit()` one by one, so its handlers run.
    Returns the new events' ids in ascending order."""
    if not connection.in_atomic_block:
        raise OutsideTransaction("emit_many() must run inside the writing service's transaction")
    if connection.schema_name == "public":
        raise OutsideTenant("emit_many() needs a tenant schema")
    if not events:
        return []
    ids = [emit(e, actor=actor) for e in events if CONSUMERS.handlers_for(e.event_type)]
    plain = [e for e in events if not CONSUMERS.handlers_for(e.event_type)]
    if not plain:
        return sorted(ids)
    payloads = [Jsonb(validate(e)) for e in plain]
    cause = context.current()
    trail = cause.trail if cause is not None else ()
    if actor is None and cause is not None:
        actor = cause.actor
    actor_id, actor_label = _actor_fields(actor)
    sub_types, sub_names = [], []
    for name in sorted({e.event_type for e in plain}):
        for subscriber in CONSUMERS.subscribers_for(name, trail=trail):
            sub_types.append(name)
            sub_names.append(subscriber)
    with connection.cursor() as cursor:
        cursor.execute(
            _insert_many_sql(),
            [
                actor_id,
                actor_label,
                request_id.current() or "",
                cause.event_id if cause is not None else None,
                list(trail),
                [e.event_type for e in plain],
                [e.version for e in plain],
                payloads,
                sub_types,
                sub_names,
            ],
        )
        ids.extend(int(row[0]) for row in cursor.fetchall())
    if sub_names:
        kick_on_commit()
    return sorted(ids)


def outbox_ctes(*, source: str, type_sql: str, payload_sql: str, event_classes: Sequence[type[DomainEvent]]) -> tuple[str, dict]:
    """For set-based producers (the SLA sweep): two common table expressions that emit
    one event per row of the CTE `source`, with its deliveries, inside the producer's
    own statement, so the events exist exactly when its rows do.

    `type_sql` and `payload_sql` are SQL expressions over `source`'s columns giving the
    event type (one of `event_classes`) and the payload (a jsonb object with exactly the
    class's fields). Returns the text `outbox_events AS (...), outbox_deliveries AS
    (...)` and its parameters; the statement reads `(SELECT count(*) FROM
    outbox_deliveries)` and calls `kick_on_commit()` when it is not zero.

    Such events skip the in-transaction handlers, so none may be registered for them.
    """
    names = [cls.event_type for cls in event_classes]
    for name in names:
        if CONSUMERS.handlers_for(name):
            raise ValueError(f"{name} has in-transaction handlers; emit it with emit(), not set-based")
    quote = connection.ops.quote_name
    event, delivery = quote(OutboxEvent._meta.db_table), quote(Delivery._meta.db_table)
    versions = " ".join(f"WHEN %(outbox_type_{i})s THEN {int(cls.version)}" for i, cls in enumerate(event_classes))
    sub_types, sub_names = [], []
    for name in names:
        for subscriber in CONSUMERS.subscribers_for(name):
            sub_types.append(name)
            sub_names.append(subscriber)
    sql = (
        f"outbox_events AS (INSERT INTO {event} "
        "(event_type, version, payload, actor_id, actor_label, request_id, causation_id, trail, occurred_at) "
        f"SELECT t.event_type, CASE t.event_type {versions} END, t.payload, NULL, 'system', %(outbox_request)s, NULL, "
        "'{}', now() "
        f"FROM (SELECT ({type_sql})::varchar AS event_type, ({payload_sql})::jsonb AS payload FROM {source}) AS t "
        "RETURNING id, event_type), "
        f"outbox_deliveries AS (INSERT INTO {delivery} (event_id, subscriber, status, attempts, next_attempt_at, "
        "last_error, created_at, updated_at) "
        "SELECT e.id, s.name, 'pending', 0, now(), '', now(), now() FROM outbox_events e "
        "JOIN unnest(%(outbox_sub_types)s::varchar[], %(outbox_sub_names)s::varchar[]) AS s(event_type, name) "
        "ON s.event_type = e.event_type RETURNING 1)"
    )
    params = {
        **{f"outbox_type_{i}": name for i, name in enumerate(names)},
        "outbox_request": request_id.current() or "",
        "outbox_sub_types": sub_types,
        "outbox_sub_names": sub_names,
    }
    return sql, params
