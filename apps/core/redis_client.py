"""Redis clients on process-wide connection pools, for the places that talk to Redis
directly rather than through the Django cache API (idempotency locks, rate-limit
counters): one pool per URL, made on first use, shared by every thread."""

from __future__ import annotations

import threading

import redis
from django.conf import settings

_pools: dict[str, redis.ConnectionPool] = {}
_pools_lock = threading.Lock()


def client(url: str | None = None) -> redis.Redis:
    """A client for `url` (default settings.REDIS_URL) on its shared pool."""
    url = url or settings.REDIS_URL
    pool = _pools.get(url)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(url)
            if pool is None:
                pool = redis.ConnectionPool.from_url(url, socket_connect_timeout=1, socket_timeout=2, health_check_interval=30)
                _pools[url] = pool
    return redis.Redis(connection_pool=pool)


def cache_client() -> redis.Redis:
    """A client for the Redis behind the default Django cache (keys made with
    `cache.make_key`, so they carry the tenant prefix like the cache's own)."""
    location = settings.CACHES["default"].get("LOCATION") or settings.REDIS_URL
    return client(location if isinstance(location, str) else location[0])
