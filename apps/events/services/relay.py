"""The relay: works off the tenant's due deliveries, in bounded batches.

One run (the `events.relay` task: kicked after a commit, and swept by beat for every
tenant) repeats, until nothing is due or its time budget is spent:

1. **Claim** a batch in a short transaction of its own: due deliveries (pending, failed
   and due for a retry, or running with an expired lease: their worker died) are
   locked with SKIP LOCKED (concurrent runs split the work, never share it), marked
   running, their attempt counted, and leased. Committed at once, so an attempt that
   kills its worker still counts: a delivery that always crashes ends dead-lettered.
2. **Deliver** the batch in a second transaction: lock the claimed rows again (still
   ours), run each subscriber in a savepoint, and record every outcome in one
   statement. A subscriber's database writes commit with its delivery marked done, or
   not at all: if the worker dies mid-batch, PostgreSQL rolls the whole batch back and
   the leases run out, so the deliveries are claimed again and their effects happen once.
   While the batch runs its rows stay locked, so no other run can claim them even when
   the lease has expired.

A run stops after its budget (WARDEN_EVENTS_RELAY_BUDGET_SECONDS) with `more` set; the
task then queues a fresh run. Every batch commits its progress, so a backlog of any
size is worked off without any task reaching its time limit.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection, transaction

from .. import conf, context
from ..backoff import retry_delay
from ..choices import DeliveryStatus
from ..consumers import CONSUMERS, Abandon, Deferred, DeliveryContext, Subscriber
from ..models import Delivery, OutboxEvent
from ..types import EVENT_TYPES

logger = logging.getLogger(__name__)

ERROR_MAX_CHARS = 2000
# Plain strings for the statement's arrays (not the enum members).
DONE, FAILED, DEAD, PENDING = (s.value for s in (DeliveryStatus.DONE, DeliveryStatus.FAILED, DeliveryStatus.DEAD,
                                                  DeliveryStatus.PENDING))


@dataclass
class RelayResult:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    batches: int = 0
    seconds: float = 0.0
    more: bool = False  # the budget ran out with deliveries still due

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


class _Claimed(NamedTuple):
    id: int
    event_id: int
    subscriber: str
    attempts: int
    was: str  # the status before this claim ("running": the previous attempt's worker died)


class _Outcome(NamedTuple):
    id: int
    status: str
    attempts: int
    delay: float  # seconds until the next attempt (failed, pending)
    error: str


# Times are the database's wall clock (clock_timestamp(), not the transaction's now()): a
# delivery is due when the time has come, whatever transaction looks.


def _claim_sql() -> str:
    # The batch is picked in a MATERIALIZED CTE: a LIMIT ... SKIP LOCKED subquery joined in
    # an UPDATE may be run again by the planner (a nested loop), each time skipping what it
    # locked before, and so claim more rows than the batch.
    table = connection.ops.quote_name(Delivery._meta.db_table)
    return (
        "WITH c AS MATERIALIZED (SELECT id, status FROM " + table + " "
        "WHERE status IN ('pending', 'failed', 'running') AND next_attempt_at <= clock_timestamp() "
        "ORDER BY next_attempt_at, id LIMIT %(batch)s FOR UPDATE SKIP LOCKED) "
        f"UPDATE {table} AS d SET status = 'running', attempts = d.attempts + 1, claim = %(claim)s, "
        "next_attempt_at = clock_timestamp() + make_interval(secs => %(lease)s), updated_at = clock_timestamp() "
        "FROM c WHERE d.id = c.id "
        "RETURNING d.id, d.event_id, d.subscriber, d.attempts, c.status"
    )


def _record_sql() -> str:
    table = connection.ops.quote_name(Delivery._meta.db_table)
    return (
        f"UPDATE {table} AS d SET status = v.status, attempts = v.attempts, claim = NULL, "
        "next_attempt_at = clock_timestamp() + make_interval(secs => v.delay), last_error = v.error, "
        "done_at = CASE WHEN v.status = 'done' THEN clock_timestamp() ELSE NULL END, updated_at = clock_timestamp() "
        "FROM unnest(%s::bigint[], %s::varchar[], %s::int[], %s::float8[], %s::text[]) AS v(id, status, attempts, delay, error) "
        "WHERE d.id = v.id"
    )


def _claim(*, token: uuid.UUID, batch: int, lease: float) -> list[_Claimed]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_claim_sql(), {"claim": token, "lease": float(lease), "batch": batch})
        rows = [_Claimed(*row) for row in cursor.fetchall()]
    return sorted(rows, key=lambda row: row.id)


def _max_attempts(subscriber: Subscriber) -> int:
    return int(subscriber.max_attempts or conf.get("WARDEN_EVENTS_MAX_ATTEMPTS"))


def _failure(claimed: _Claimed, subscriber: Subscriber, error: str) -> _Outcome:
    if claimed.attempts >= _max_attempts(subscriber):
        logger.error(
            "outbox: delivery %s of event %s to %s dead-lettered after %d attempt(s): %s",
            claimed.id, claimed.event_id, claimed.subscriber, claimed.attempts, error,
        )
        return _Outcome(claimed.id, DEAD, claimed.attempts, 0.0, error)
    delay = retry_delay(
        claimed.attempts,
        base=float(conf.get("WARDEN_EVENTS_BACKOFF_SECONDS")),
        cap=float(conf.get("WARDEN_EVENTS_BACKOFF_MAX_SECONDS")),
    )
    logger.warning(
        "outbox: delivery %s of event %s to %s failed (attempt %d), next try in %.0f s: %s",
        claimed.id, claimed.event_id, claimed.subscriber, claimed.attempts, delay, error,
    )
    return _Outcome(claimed.id, FAILED, claimed.attempts, delay, error)


def _run_one(claimed: _Claimed, row: OutboxEvent, subscriber: Subscriber) -> _Outcome:
    if claimed.was == DeliveryStatus.RUNNING and claimed.attempts > _max_attempts(subscriber):
        return _failure(claimed, subscriber, "the worker stopped during every attempt (killed or out of memory)")
    try:
        event = EVENT_TYPES.get(row.event_type).cls.from_payload(row.payload, row.version)
        delivery = DeliveryContext(
            event_id=row.pk,
            delivery_id=claimed.id,
            subscriber=subscriber.name,
            attempt=claimed.attempts,
            occurred_at=row.occurred_at,
            actor_id=row.actor_id,
            actor_label=row.actor_label,
            request_id=row.request_id,
        )
        # A savepoint: a failure undoes this subscriber's writes only.
        with transaction.atomic(), context.handling(event_id=row.pk, trail=tuple(row.trail), consumer=subscriber.name):
            subscriber.handle(event, delivery)
    except Deferred as exc:
        return _Outcome(claimed.id, PENDING, claimed.attempts - 1, float(exc.seconds), f"deferred: {exc}")
    except Abandon as exc:
        logger.error("outbox: delivery %s of event %s to %s abandoned: %s", claimed.id, claimed.event_id,
                     claimed.subscriber, exc)
        return _Outcome(claimed.id, DEAD, claimed.attempts, 0.0, f"abandoned: {exc}"[:ERROR_MAX_CHARS])
    except Exception as exc:  # noqa: BLE001 - any failure is the delivery's, never the batch's
        return _failure(claimed, subscriber, f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS])
    return _Outcome(claimed.id, DONE, claimed.attempts, 0.0, "")


def _deliver(claimed: list[_Claimed], *, token: uuid.UUID, result: RelayResult) -> None:
    with transaction.atomic():
        owned = set(
            Delivery.objects.select_for_update(of=("self",))
            .filter(pk__in=[c.id for c in claimed], claim=token, status=DeliveryStatus.RUNNING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        events = OutboxEvent.objects.in_bulk({c.event_id for c in claimed if c.id in owned})
        outcomes: list[_Outcome] = []
        for item in claimed:
            if item.id not in owned:
                continue  # another run reclaimed it after our lease ran out
            subscriber = CONSUMERS.subscribers.get(item.subscriber)
            if subscriber is None:
                outcomes.append(_Outcome(item.id, DEAD, item.attempts, 0.0, "no such subscriber"))
                continue
            outcomes.append(_run_one(item, events[item.event_id], subscriber))
        if outcomes:
            with connection.cursor() as cursor:
                cursor.execute(_record_sql(), [list(column) for column in zip(*outcomes, strict=True)])
    for outcome in outcomes:
        if outcome.status == DONE:
            result.delivered += 1
        elif outcome.status == FAILED:
            result.failed += 1
        elif outcome.status == DEAD:
            result.dead += 1
        else:
            result.deferred += 1


def relay_run(*, budget_seconds: float | None = None, batch: int | None = None) -> RelayResult:
    """Deliver what is due in the current tenant, batch by batch, within the budget."""
    started = time.monotonic()
    budget = float(budget_seconds if budget_seconds is not None else conf.get("WARDEN_EVENTS_RELAY_BUDGET_SECONDS"))
    batch = int(batch or conf.get("WARDEN_EVENTS_RELAY_BATCH"))
    lease = float(conf.get("WARDEN_EVENTS_LEASE_SECONDS"))
    token = uuid.uuid4()
    result = RelayResult()
    while True:
        claimed = _claim(token=token, batch=batch, lease=lease)
        if not claimed:
            break
        result.claimed += len(claimed)
        result.batches += 1
        _deliver(claimed, token=token, result=result)
        if len(claimed) < batch:
            break
        if time.monotonic() - started >= budget:
            result.more = True
            break
    result.seconds = time.monotonic() - started
    return result
