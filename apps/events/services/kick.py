"""Kick the relay when a transaction that wrote deliveries commits.

One kick per transaction and tenant, sent after COMMIT (never for a rolled-back write),
in the tenant that was current when the delivery was written (the on-commit trap of
`apps.core.tasks.enqueue_on_commit`).

Under load, most kicks are not needed: a relay task that is queued but has not started
yet will claim every delivery committed before it starts. A Redis flag per tenant says
"a relay is queued": a kick sets it (SET NX) and sends the task only when the flag was
not set; the relay task clears it before it claims anything. So a burst of writes costs
one Redis round trip each and one Celery message in all, and no committed delivery can
slip between a suppressed kick and the relay that covers it.

Nothing here may fail the request that committed: with Redis or the broker down, the
kick is logged and skipped, and the periodic relay sweep delivers.
"""

from __future__ import annotations

import contextlib
import logging

import redis
from celery import current_app
from django.db import connection, transaction

from apps.core import redis_client, request_id

logger = logging.getLogger(__name__)

RELAY_TASK = "events.relay"
FLAG_SECONDS = 30  # a lost relay message stops suppressing kicks after this long


def flag_key(schema: str) -> str:
    return f"warden:events:relay-queued:{schema}"


class _Kick:
    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.request_id = request_id.current()

    def __call__(self) -> None:
        send_relay(self.schema, request_id=self.request_id)


def send_relay(schema: str, *, request_id: str | None = None, force: bool = False) -> bool:
    """Queue a relay task for `schema` unless one is queued already. Never raises."""
    try:
        client = redis_client.client()
        if not client.set(flag_key(schema), "1", nx=True, ex=FLAG_SECONDS) and not force:
            return False
    except (redis.RedisError, OSError) as exc:
        logger.warning("outbox: relay for %s not kicked (Redis: %s); the periodic relay will deliver", schema, exc)
        return False
    headers = {"_schema_name": schema}
    if request_id:
        headers["request_id"] = request_id
    try:
        current_app.send_task(RELAY_TASK, headers=headers, retry=False, ignore_result=True)
    except Exception as exc:  # noqa: BLE001 - the broker is down: the sweep covers it
        logger.warning("outbox: relay for %s not kicked (broker: %s); the periodic relay will deliver", schema, exc)
        with contextlib.suppress(redis.RedisError, OSError):
            client.delete(flag_key(schema))
        return False
    return True


def clear_flag(schema: str) -> None:
    """Called by the relay task before it claims: later commits kick again."""
    with contextlib.suppress(redis.RedisError, OSError):
        redis_client.client().delete(flag_key(schema))


def kick_on_commit() -> None:
    """Kick the relay once the current transaction commits (once per transaction)."""
    schema = connection.schema_name
    for entry in connection.run_on_commit:
        if isinstance(entry[1], _Kick) and entry[1].schema == schema:
            return
    transaction.on_commit(_Kick(schema), robust=True)
