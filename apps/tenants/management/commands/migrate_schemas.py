"""django-tenants' migrate_schemas, plus the base schema new tenants are cloned from.

Every run that touches tenant schemas migrates the base schema first (right after the
public schema), so the base is never behind the code and a tenant cloned from it never
records migrations whose tables it lacks (docs/decisions/0002-tenant-cloning.md).
"""

from django.core.management.base import CommandError
from django.db import connection
from django_tenants.management.commands import SyncCommon
from django_tenants.management.commands.migrate_schemas import GET_EXECUTOR_FUNCTION, MigrateSchemasCommand
from django_tenants.utils import get_public_schema_name

from apps.tenants.schema import base_schema_name


class Command(MigrateSchemasCommand):
    help = MigrateSchemasCommand.help + " Migrates the tenant base schema before any tenant."

    def handle(self, *args, **options):
        SyncCommon.handle(self, *args, **options)
        if options.get("schema_name") == base_schema_name():
            raise CommandError("The base schema is migrated on every tenant run; name a tenant schema or none.")
        sync_public, sync_tenant, schema = self.sync_public, self.sync_tenant, self.schema_name
        if sync_public and (not schema or schema == get_public_schema_name()):
            super().handle(*args, **{**options, "shared": True, "tenant": False, "schema_name": None})
        if sync_tenant and schema != get_public_schema_name():
            self._migrate_base(args, options)
            super().handle(*args, **{**options, "shared": False, "tenant": True})
            from apps.tenants.services import ensure_public_tenant

            ensure_public_tenant()

    def _migrate_base(self, args, options) -> None:
        base = base_schema_name()
        with connection.cursor() as cur:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{base}"')
        executor = GET_EXECUTOR_FUNCTION(codename=options.get("executor"))(args, options)
        executor.run_migrations(tenants=[base])
