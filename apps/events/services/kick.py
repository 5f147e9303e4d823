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

The kick is sent by a daemon thread of the process, not by the request: the commit hands
the tenant to it and returns at once, so a write never waits on Redis or the broker (a
Celery message costs a few milliseconds, more than the rest of the outbox together). A
tenant already waiting in that thread's queue is not queued twice: the kick it gets is
sent after every commit that asked for it. A kick still queued when the process dies is
lost like any kick to a broker that is down: the periodic relay sweep delivers.

Nothing here may fail the request that committed: with Redis or the broker down, the
kick is logged and skipped, and the periodic relay sweep delivers.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time

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
        sender.submit(self.schema, self.request_id)


class _Sender:
    """The process's kick sender: one daemon thread, started on the first kick (again in
    a forked child: a thread does not survive fork), sending the kicks it is handed in
    order, each tenant at most once per round."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending: dict[str, str | None] = {}  # schema -> request id of the first commit
        self._sending = False
        self._thread: threading.Thread | None = None

    def submit(self, schema: str, request_id: str | None = None) -> None:
        with self._lock:
            self._pending.setdefault(schema, request_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="warden-outbox-kick", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                self._sending = False
                self._changed.notify_all()
                while not self._pending:
                    self._changed.wait()
                schema = next(iter(self._pending))
                request = self._pending.pop(schema)
                self._sending = True
            try:
                send_relay(schema, request_id=request)  # the module's name: tests may replace it
            except Exception:  # noqa: BLE001 - the thread must outlive any one kick
                logger.exception("outbox: relay for %s not kicked; the periodic relay will deliver", schema)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every kick handed over so far is sent (tests, and a process that
        exits). False if `timeout` seconds were not enough."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending or self._sending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True


sender = _Sender()
os.register_at_fork(after_in_child=sender._reset)  # a lock held by the parent's thread would never be released
atexit.register(sender.flush, 1.0)  # a worker that exits cleanly sends what it still holds


def flush(timeout: float = 5.0) -> bool:
    """Wait until the kicks of every commit so far are sent."""
    return sender.flush(timeout)


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
