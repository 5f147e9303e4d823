"""The base schema new tenants are cloned from (docs/decisions/0002-tenant-cloning.md):
not a tenant, no domain, no data, never behind the code when a clone is taken."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_context

from apps.tenants import schema as schemas
from apps.tenants.models import Domain, Tenant
from apps.tenants.services import tenant_provision
from apps.tenants.tasks import tenants_served_here

BASE = schemas.base_schema_name()
# Rows the migrations themselves write into every tenant schema (checked below to be in
# their initial state): anything else in the base would be copied into every new tenant.
ALLOWED_ROWS = {
    "django_migrations",  # the migration records
    "auth_permission",  # Django's post_migrate permissions
    "audit_audithead",  # the audit chain's genesis head (seq 0)
    "tickets_ticketcounter",  # the per-tenant ticket number counter (0)
    "tickets_desksettings",  # the help-desk settings with their defaults (no team, reopen, 7 days)
    "notifications_notificationrule",  # who hears what: the shipped rules, one per kind
}


def _row_counts(schema: str) -> dict[str, int]:
    with connection.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [schema])
        tables = [row[0] for row in cur.fetchall()]
        counts = {}
        for table in tables:
            cur.execute(f'SELECT count(*) FROM "{schema}"."{table}"')
            counts[table] = cur.fetchone()[0]
    return counts


def test_the_base_is_a_schema_but_not_a_tenant_and_has_no_domain(db):
    connection.set_schema_to_public()
    assert schemas.schema_exists(BASE)
    assert not Tenant.objects.filter(schema_name=BASE).exists()
    assert not Domain.objects.filter(tenant__schema_name=BASE).exists()
    assert not Domain.objects.filter(domain__icontains=BASE.strip("_")).exists()
    assert BASE not in {t.schema_name for t in tenants_served_here()}
    # So no host reaches it: a request for its would-be host is the unknown-host 404.
    from django.test import Client

    assert Client(HTTP_HOST=f"{BASE}.localhost").get("/", HTTP_ACCEPT="text/html").status_code == 404


def test_the_base_holds_nothing_but_migration_records(db):
    connection.set_schema_to_public()
    counts = _row_counts(BASE)
    assert len(counts) > 20  # every tenant table is there ...
    assert counts["django_migrations"] > 0
    assert {table: n for table, n in counts.items() if n and table not in ALLOWED_ROWS} == {}  # ... and empty
    with connection.cursor() as cur:
        cur.execute(f'SELECT seq FROM "{BASE}".audit_audithead')
        assert cur.fetchall() == [(0,)]
        cur.execute(f'SELECT last_number FROM "{BASE}".tickets_ticketcounter')
        assert cur.fetchall() == [(0,)]
    # A tenant cloned from it gets its data from services afterwards (first admin, baseline).
    assert _row_counts("t_alpha")["accounts_user"] > 0


def _reversible_leaf(loader: MigrationLoader, app: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The newest migration of `app` (nothing depends on it) and the one before it."""
    (leaf,) = [key for key in loader.graph.leaf_nodes() if key[0] == app]
    migration = loader.disk_migrations[leaf]
    assert all(op.reversible for op in migration.operations)
    (parent,) = [key for key in loader.graph.node_map[leaf].parents if key[0] == app]
    return leaf, parent


def test_a_stale_base_is_refused_and_the_next_migrate_schemas_brings_it_current(django_db_setup, django_db_blocker):
    """Unapply allauth's newest migration in the base for real (tables and records agree:
    a base behind the code), then check provisioning refuses it and that migrate_schemas,
    even for a single tenant, migrates the base first."""
    slug = "stale-base"
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        loader = MigrationLoader(None, ignore_no_migrations=True)
        leaf, parent = _reversible_leaf(loader, "account")
        before = schemas.schema_catalog(BASE)
        try:
            with schema_context(BASE):
                MigrationExecutor(connection).migrate([parent])
            connection.set_schema_to_public()
            assert schemas.pending_base_migrations() == [f"{leaf[0]}.{leaf[1]}"]
            assert schemas.schema_catalog(BASE) != before  # the constraint is really gone

            with pytest.raises(schemas.BaseSchemaNotReady, match=leaf[1]):
                tenant_provision(slug=slug, name="Stale", region="eu", admin_email=f"a@{slug}.test")
            assert not Tenant.objects.filter(slug=slug).exists()
            assert not schemas.schema_exists("t_stale_base")

            call_command("migrate_schemas", "--tenant", "--schema=t_alpha", interactive=False, verbosity=0)
            connection.set_schema_to_public()
            assert schemas.pending_base_migrations() == []
            assert schemas.schema_catalog(BASE) == before
            assert schemas.schema_catalog(BASE) == schemas.schema_catalog("t_alpha")
            assert tenant_provision(slug=slug, name="Stale", region="eu", admin_email=f"a@{slug}.test").created
        finally:
            connection.set_schema_to_public()
            if schemas.pending_base_migrations():  # leave the base as we found it, whatever failed
                with schema_context(BASE):
                    MigrationExecutor(connection).migrate([leaf])
                connection.set_schema_to_public()
            for tenant in Tenant.objects.filter(slug=slug):
                with connection.cursor() as cur:
                    cur.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
                Domain.objects.filter(tenant=tenant).delete()
                tenant.delete()


def test_migrate_schemas_refuses_to_target_the_base_alone(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="base schema is migrated on every tenant run"):
        call_command("migrate_schemas", f"--schema={BASE}", interactive=False, verbosity=0)
