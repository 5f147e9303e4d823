"""Shared set-up of the governance benchmarks (audit_append, audit_verify, policy_decide).

Each run creates a throwaway database `bench_gov_<pid>` on the server DATABASE_URL
points at (default: the project-local PostgreSQL of `make services`), migrates it,
provisions one tenant, works inside its schema, and drops the database at the end (also
on Ctrl-C). GOV_BENCH_DB=<name> reuses (and keeps) a database instead, to skip the
migration on repeated runs. Figures are wall-clock on whatever else the machine is
doing: the load average is printed with them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import uuid

from throwaway_db import drop_database, open_database


def setup_django() -> None:
    """Point Django at a fresh (or reused: GOV_BENCH_DB) benchmark database and migrate it."""
    name, base, reused = open_database(prefix="bench_gov", reuse_env="GOV_BENCH_DB")
    if not reused:
        atexit.register(drop_database, base, name)


@contextlib.contextmanager
def throwaway_tenant(prefix: str):
    """Provision `<prefix>-<random>`, put the connection in its schema, drop it afterwards."""
    from django.db import connection

    from apps.tenants.models import Domain, Tenant
    from apps.tenants.services import tenant_provision

    slug = f"{prefix}-{uuid.uuid4().hex[:8]}"
    connection.set_schema_to_public()
    tenant = tenant_provision(slug=slug, name="Benchmark", region="eu", admin_email=f"admin@{slug}.test").tenant
    try:
        connection.set_tenant(tenant)
        yield tenant
    finally:
        from django.db import connections

        for conn in connections.all():
            conn.close()
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
        Domain.objects.filter(tenant_id=tenant.pk).delete()
        Tenant.objects.filter(pk=tenant.pk).delete()


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"
