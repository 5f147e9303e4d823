"""Shared set-up of the SLA benchmarks (bench/sla_sweep.py, bench/sla_due.py).

Each run works in a throwaway database `bench_sla_<pid>` on the server DATABASE_URL
points at (default: the project-local PostgreSQL of `make services`), migrated with
`migrate_schemas`, and drops it at the end. SLA_BENCH_DB=<name> reuses (and keeps) a
database instead, to skip the migration on repeated runs.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time

from throwaway_db import ROOT, drop_database, open_database

sys.path.insert(0, str(ROOT))


@contextlib.contextmanager
def bench_database():
    """Create (or reuse: SLA_BENCH_DB) the benchmark database, migrate it, yield its name."""
    name, base, reused = open_database(prefix="bench_sla", reuse_env="SLA_BENCH_DB")
    try:
        yield name
    finally:
        if not reused:
            drop_database(base, name)


def provision(slug: str):
    from django.db import connection

    from apps.tenants.models import Tenant
    from apps.tenants.services import tenant_provision

    connection.set_schema_to_public()
    existing = Tenant.objects.filter(slug=slug).first()
    if existing is not None:
        return existing
    return tenant_provision(slug=slug, name=slug, region="eu", admin_email=f"admin@{slug}.test").tenant


def timed(function, repeat: int = 1) -> tuple[float, object]:
    """(median seconds, last result) of `repeat` runs."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result
