"""Redis signals that cut the agent waits short. The database is the truth: a lost or
never-sent signal costs at most one wait slice (a second), and without Redis both sides
fall back to checking the database every second.

* `agent_notify(agent_id)` after a call is queued; a poll waiting for work wakes up.
* `call_notify(call_id)` after an agent's result is stored; the client waiting wakes up.

Keys carry the tenant (the cache's key function), lists are short-lived and trimmed. A
wait slice is at most one second, under the Redis client's socket timeout.
"""

from __future__ import annotations

import logging
import time

import redis
from django.core.cache import cache

from apps.core import redis_client

logger = logging.getLogger(__name__)

SLICE_SECONDS = 1.0
_TTL_SECONDS = 120


def _agent_key(agent_id: int) -> str:
    return cache.make_key(f"connectors:agent:{agent_id}:wake")


def _call_key(call_id: int) -> str:
    return cache.make_key(f"connectors:agent-call:{call_id}:done")


def _push(key: str) -> None:
    try:
        pipe = redis_client.cache_client().pipeline(transaction=False)
        pipe.rpush(key, "1")
        pipe.ltrim(key, -50, -1)
        pipe.expire(key, _TTL_SECONDS)
        pipe.execute()
    except (redis.RedisError, OSError):
        logger.warning("agent wake-up not sent: Redis is unavailable (the waiting side checks the database)")


def _wait(key: str, seconds: float) -> None:
    seconds = max(0.0, min(SLICE_SECONDS, seconds))
    if seconds <= 0:
        return
    started = time.monotonic()
    try:
        # BLPOP takes whole seconds on old servers; a float on Redis >= 6.
        redis_client.cache_client().blpop([key], timeout=seconds)
    except (redis.RedisError, OSError):
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))


def agent_notify(agent_id: int) -> None:
    _push(_agent_key(agent_id))


def agent_wait(agent_id: int, seconds: float) -> None:
    _wait(_agent_key(agent_id), seconds)


def call_notify(call_id: int) -> None:
    _push(_call_key(call_id))


def call_wait(call_id: int, seconds: float) -> None:
    _wait(_call_key(call_id), seconds)
