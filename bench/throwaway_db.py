"""A benchmark database of its own, next to the dev database: created (or reused),
Django pointed at it and migrated; dropped again by `drop_database`. Shared by the
SLA and governance benchmarks (`sla_common.py`, `governance_common.py`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://warden@127.0.0.1:54329/warden"


def admin_connect(url: str):
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


def open_database(*, prefix: str, reuse_env: str) -> tuple[str, str, bool]:
    """Create `<prefix>_<pid>` (or reuse the database named by `$reuse_env`), point
    Django at it, set Django up and migrate. Returns (name, server URL, reused)."""
    sys.path.insert(0, str(ROOT))
    base = os.environ.get("DATABASE_URL", DEFAULT_URL)
    reuse = os.environ.get(reuse_env)
    name = reuse or f"{prefix}_{os.getpid()}"
    with admin_connect(base) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
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
    return name, base, bool(reuse)


def drop_database(base: str, name: str) -> None:
    from django.db import connections

    connections.close_all()
    with admin_connect(base) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
