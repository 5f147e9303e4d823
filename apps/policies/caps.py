"""Cap obligations: fixed-window counters that PostgreSQL keeps exact under concurrency.

One unit is taken with two statements inside the caller's transaction:

    INSERT ... (key, window_start, 0) ON CONFLICT DO NOTHING     -- the bucket exists
    UPDATE ... SET count = count + 1
           WHERE key = .. AND window_start = .. AND count < limit
           RETURNING count                                       -- a row back: allowed

Concurrent callers queue on the bucket's row lock; under READ COMMITTED PostgreSQL
re-checks `count < limit` against the committed row before updating, so exactly `limit`
callers per window get a row back. The unit belongs to the caller's transaction: if the
caller rolls back (its write failed), the unit is given back too. The row stays locked
until the caller commits, which serialises writes under the same cap; keep such
transactions short.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from . import engine
from .models import CapCounter


def _now() -> datetime:
    return timezone.now()  # tests pin the clock by replacing this function


def window_start(now: datetime, window: int) -> datetime:
    """Fixed windows aligned on the Unix epoch: every node agrees on the bucket."""
    seconds = int(now.timestamp())
    return datetime.fromtimestamp(seconds - seconds % window, tz=UTC)


def cap_take(*, key: str, limit: int, window: int, now: datetime) -> bool:
    """Take one unit from the bucket of `key` for the window containing `now`."""
    table = connection.ops.quote_name(CapCounter._meta.db_table)
    start = window_start(now, window)
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {table} ("key", "window_start", "count") VALUES (%s, %s, 0) '
            f'ON CONFLICT ("key", "window_start") DO NOTHING',
            [key, start],
        )
        cursor.execute(
            f'UPDATE {table} SET "count" = "count" + 1 '
            f'WHERE "key" = %s AND "window_start" = %s AND "count" < %s RETURNING "count"',
            [key, start, limit],
        )
        return cursor.fetchone() is not None


class _CapExceeded(Exception):
    pass


def caps_take_all(obligations: Iterable[engine.Obligation], action: str, read: engine.FactReader) -> bool:
    """One unit from every cap among `obligations`, or none at all (savepoint)."""
    limits: dict[tuple[str, int], int] = {}
    for obligation in obligations:
        if obligation.kind != engine.CAP:
            continue
        bucket = (engine.cap_key(obligation, action, read), obligation.window)
        limits[bucket] = min(limits.get(bucket, obligation.limit), obligation.limit)
    if not limits:
        return True
    now = _now()
    try:
        with transaction.atomic():
            for (key, window), limit in sorted(limits.items()):  # one lock order: no deadlocks
                if not cap_take(key=key, limit=limit, window=window, now=now):
                    raise _CapExceeded
    except _CapExceeded:
        return False
    return True


def cap_counters_prune(*, before: datetime) -> int:
    """Delete buckets whose window started before `before` (the longest window is 31 days)."""
    deleted, _ = CapCounter.objects.filter(window_start__lt=before).delete()
    return deleted
