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
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://warden@127.0.0.1:54329/warden"


def _admin_connect(url: str):
    import psycopg

    parts = urlparse(url)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password or None,
        dbname="postgres",
        autocommit=True,
    )


def setup_django() -> None:
    """Point Django at a fresh (or reused) benchmark database, set it up and migrate it."""
    sys.path.insert(0, str(ROOT))
    base = os.environ.get("DATABASE_URL", DEFAULT_URL)
    reuse = os.environ.get("GOV_BENCH_DB")
    name = reuse or f"bench_gov_{os.getpid()}"
    with _admin_connect(base) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    if not reuse:
        atexit.register(_drop_database, base, name)
    os.environ["DATABASE_URL"] = urlunparse(urlparse(base)._replace(path=f"/{name}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate_schemas", interactive=False, verbosity=0)
    print(f"database {name}: migrated in {time.perf_counter() - started:.1f} s", flush=True)


def _drop_database(base: str, name: str) -> None:
    from django.db import connections

    connections.close_all()
    with _admin_connect(base) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


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
