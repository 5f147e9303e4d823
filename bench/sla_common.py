"""Shared set-up of the SLA benchmarks (bench/sla_sweep.py, bench/sla_due.py).

Each run works in a throwaway database `bench_sla_<pid>` on the server DATABASE_URL
points at (default: the project-local PostgreSQL of `make services`), migrated with
`migrate_schemas`, and drops it at the end. SLA_BENCH_DB=<name> reuses (and keeps) a
database instead, to skip the migration on repeated runs.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
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


@contextlib.contextmanager
def bench_database():
    """Create (or reuse) the benchmark database, point Django at it, migrate, yield."""
    base = os.environ.get("DATABASE_URL", DEFAULT_URL)
    reuse = os.environ.get("SLA_BENCH_DB")
    name = reuse or f"bench_sla_{os.getpid()}"
    with _admin_connect(base) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunparse(urlparse(base)._replace(path=f"/{name}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate_schemas", interactive=False, verbosity=0)
    print(f"database {name}: migrated in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        yield name
    finally:
        from django.db import connections

        connections.close_all()
        if not reuse:
            with _admin_connect(base) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    [name],
                )
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


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
