"""Redis clients on process-wide connection pools, for the places that talk to Redis
directly rather than through the Django cache API (idempotency locks, rate-limit
counters): one pool per URL, made on first use, shared by every thread, and one client
object on it (a `redis.Redis` is thread-safe, and building one costs about 0.4 ms: the
rate limits alone asked for three per API request)."""

from __future__ import annotations

import threading

import redis
from django.conf import settings

_clients: dict[str, redis.Redis] = {}
_pools_lock = threading.Lock()


def client(url: str | None = None) -> redis.Redis:
    """The client for `url` (default settings.REDIS_URL) on its shared pool (the pool
    starts afresh in a forked child by itself)."""
    url = url or settings.REDIS_URL
    made = _clients.get(url)
    if made is None:
        with _pools_lock:
            made = _clients.get(url)
            if made is None:
                pool = redis.ConnectionPool.from_url(url, socket_connect_timeout=1, socket_timeout=2, health_check_interval=30)
                made = _clients[url] = redis.Redis(connection_pool=pool)
    return made


def cache_client() -> redis.Redis:
    """A client for the Redis behind the default Django cache (keys made with
    `cache.make_key`, so they carry the tenant prefix like the cache's own)."""
    location = settings.CACHES["default"].get("LOCATION") or settings.REDIS_URL
    return client(location if isinstance(location, str) else location[0])
