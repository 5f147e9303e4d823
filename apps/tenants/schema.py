"""Schema plumbing for tenant creation: base-schema freshness and constraint names.

New tenants are cloned from the migrated base schema (settings.TENANT_BASE_SCHEMA)
instead of replaying every migration, so creating a tenant costs the same however many
migrations exist. Two traps come with cloning, both handled here:

* PostgreSQL's clone gives every UNIQUE constraint its default name; a later migration
  that drops or alters a named constraint would then fail on cloned tenants only.
  `restore_constraint_names` renames them back to the base's names.
* A base schema behind the code would yield tenants whose missing migrations are
  recorded as applied but whose tables do not exist. `pending_base_migrations` lets
  the provisioning service refuse to clone in that state.
"""

from __future__ import annotations

import functools
from collections import defaultdict

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
        cur.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'django_migrations'", [schema]
        )
        if cur.fetchone() is None:
            return set()
        cur.execute(f'SELECT app, name FROM "{schema}".django_migrations')
        return {(app, name) for app, name in cur.fetchall()}


def pending_base_migrations() -> list[str]:
    """Migrations on disk that the base schema has not applied ("app.name"), sorted."""
    base = base_schema_name()
    if not schema_exists(base):
        return ["(base schema missing)"]
    missing = _migrations_on_disk() - applied_migrations(base)
    return sorted(f"{app}.{name}" for app, name in missing)


def ensure_base_ready() -> None:
    pending = pending_base_migrations()
    if pending:
        shown = ", ".join(pending[:5]) + (" ..." if len(pending) > 5 else "")
        raise BaseSchemaNotReady(
            f"base schema {base_schema_name()!r} is behind the code ({shown}); "
            "run `manage.py migrate_schemas` first"
        )


_CONSTRAINTS_SQL = """
    SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
    FROM pg_constraint c
    JOIN pg_class t ON t.oid = c.conrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = %s AND c.contype = 'u'
    ORDER BY t.relname, c.conname
"""


def _unique_constraints(schema: str) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    # pg_get_*def() qualify names relative to the search path: read from public only.
    with schema_context(get_public_schema_name()), connection.cursor() as cur:
        cur.execute(_CONSTRAINTS_SQL, [schema])
        for table, name, definition in cur.fetchall():
            found[(table, definition)].append(name)
    return found


def restore_constraint_names(*, source: str, target: str) -> int:
    """Give `target`'s unique constraints the names they have in `source`.

    Constraints are matched on table and definition. Returns how many were renamed.
    """
    wanted = _unique_constraints(source)
    have = _unique_constraints(target)
    renamed = 0
    with connection.cursor() as cur:
        for (table, definition), names in have.items():
            targets = wanted.get((table, definition), [])
            unmatched_now = sorted(n for n in names if n not in targets)
            unmatched_wanted = sorted(n for n in targets if n not in names)
            for old, new in zip(unmatched_now, unmatched_wanted, strict=False):
                cur.execute(f'ALTER TABLE "{target}"."{table}" RENAME CONSTRAINT "{old}" TO "{new}"')
                renamed += 1
    return renamed


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
        SELECT sequence_name, data_type FROM information_schema.sequences WHERE sequence_schema = %s
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
