"""Account tasks. Tenant tasks only (apps.core.tasks.tenant_task)."""

from __future__ import annotations

import logging
import os

from django.core.cache import cache
from django.db import connection

from apps.core import request_id
from apps.core.tasks import tenant_task

from .selectors import directory_digest

logger = logging.getLogger(__name__)

PROBE_TTL_SECONDS = 300


def probe_key(token: str) -> str:
    """Cache key of a probe's report (the cache adds the tenant's schema to it)."""
    return f"accounts.directory_probe:{token}"


@tenant_task(name="accounts.directory_probe")
def directory_probe(token: str) -> int:
    """Read-only worker self-check: can a worker read this tenant's people, and only theirs?

    Counts the tenant's active users and leaves a report for five minutes under a
    tenant-prefixed cache key: the schema the task ran in, the count, a SHA-256 digest of
    the sorted emails (never the emails themselves), the worker's pid and the request id
    that sent it. `manage.py worker_check` sends it and prints the report; the isolation
    tests compare the digest with the tenant's own directory.
    """
    count, digest = directory_digest()
    report = {
        "schema": connection.schema_name,
        "users": count,
        "emails_sha256": digest,
        "pid": os.getpid(),
        "request_id": request_id.get(),
    }
    cache.set(probe_key(token), report, timeout=PROBE_TTL_SECONDS)
    logger.info("directory probe %s: %d active users", token, count)
    return count
