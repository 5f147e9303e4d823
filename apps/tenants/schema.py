"""Schema plumbing for tenant creation: base-schema freshness and catalog comparison.

New tenants are cloned from the migrated base schema (settings.TENANT_BASE_SCHEMA,
copied by `apps.tenants.cloning`) instead of replaying every migration, so creating a
tenant costs the same however many migrations exist. A base schema behind the code
would yield tenants whose missing migrations are recorded as applied but whose tables do
not exist: `ensure_base_ready` lets the provisioning service refuse to clone in that
state. `schema_catalog` is what tests compare a clone with.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import get_public_schema_name, schema_context


class BaseSchemaNotReady(RuntimeError):
    """The base schema is missing or has unapplied migrations."""


def base_schema_name() -> str:
    return settings.TENANT_BASE_SCHEMA


@functools.cache
def _migrations_on_disk() -> frozenset[tuple[str, str]]:
    # Cached per process: the code cannot change under a running process.
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return frozenset(loader.graph.nodes)


def schema_exists(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cur.fetchone() is not None


def applied_migrations(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(format('%%I.django_migrations', %s::text))", [schema])
        if cur.fetchone()[0] is None:
            return set()
        cur.execute(f'SELECT app, name FROM "{schema}".django_migrations')
        return {(app, name) for app, name in cur.fetchall()}


def pending_base_migrations() -> list[str]:
    """Migrations on disk that the base schema has not applied ("app.name"), sorted."""
    return _pending(applied=None)


def _pending(applied: set | None) -> list[str]:
    base = base_schema_name()
    if not schema_exists(base):
        return ["(base schema missing)"]
    missing = _migrations_on_disk() - (applied_migrations(base) if applied is None else applied)
    return sorted(f"{app}.{name}" for app, name in missing)


def ensure_base_ready() -> set[tuple[str, str]]:
    """The base's applied migrations; BaseSchemaNotReady when it is behind the code."""
    base = base_schema_name()
    applied = applied_migrations(base) if schema_exists(base) else set()
    pending = _pending(applied)
    if pending:
        shown = ", ".join(pending[:5]) + (" ..." if len(pending) > 5 else "")
        raise BaseSchemaNotReady(
            f"base schema {base_schema_name()!r} is behind the code ({shown}); "
            "run `manage.py migrate_schemas` first"
        )
    return applied


_CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity
        FROM information_schema.columns WHERE table_schema = %s
    """,
    "constraints": """
        SELECT t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s
    """,
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s",
    "triggers": """
        SELECT c.relname, tg.tgname, pg_get_triggerdef(tg.oid)
        FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND NOT tg.tgisinternal
    """,
    "sequences": """
        SELECT t.relname, a.attname, a.attidentity, s.relname, q.seqtypid::regtype::text, q.seqstart,
               q.seqincrement, q.seqmin, q.seqmax, q.seqcache, q.seqcycle
        FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
        JOIN pg_sequence q ON q.seqrelid = s.oid
        LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('i', 'a')
        LEFT JOIN pg_class t ON t.oid = d.refobjid
        LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE n.nspname = %s AND s.relkind = 'S'
    """,
    "functions": """
        SELECT p.proname, pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s
    """,
}


def schema_catalog(schema: str) -> dict[str, list[tuple[str, ...]]]:
    """A schema's structure with its own name factored out, for comparing two schemas."""
    catalog: dict[str, list[tuple[str, ...]]] = {}
    with schema_context(get_public_schema_name()), connection.cursor() as cur:
        for kind, sql in _CATALOG_QUERIES.items():
            cur.execute(sql, [schema])
            catalog[kind] = sorted(
                tuple(str(v).replace(f'"{schema}".', "<s>.").replace(f"{schema}.", "<s>.") for v in row)
                for row in cur.fetchall()
            )
    return catalog
