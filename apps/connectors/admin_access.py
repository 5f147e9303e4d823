"""Who sees the connectors' admin pages: a tenant's admins, in their tenant's schema
only (the connectors' tables exist nowhere else). Shared by every kind's admin."""

from __future__ import annotations

from django.db import connection

from apps.accounts.permissions import is_tenant_admin


def tenant_admin(request) -> bool:
    return connection.schema_name != "public" and is_tenant_admin(request.user)


class TenantAdminsOnly:
    """Mixin before a ModelAdmin: tenant admins only, and then what the admin allows."""

    def has_module_permission(self, request) -> bool:
        return tenant_admin(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return tenant_admin(request)

    def has_add_permission(self, request) -> bool:
        return tenant_admin(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return tenant_admin(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return tenant_admin(request) and super().has_delete_permission(request, obj)
