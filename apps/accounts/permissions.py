"""The one permission module: views, the API and the admin all ask here.

Coarse role capabilities only. Decisions about a particular object and action (may this
agent close that ticket?) belong to the policy engine, which the services consult.
"""

from __future__ import annotations

from django.db import connection
from rest_framework.permissions import BasePermission

from .models import Role

ROLE_RANK = {Role.REQUESTER: 0, Role.AGENT: 1, Role.ADMIN: 2}


def _in_tenant() -> bool:
    return connection.schema_name != "public"


def is_member(user) -> bool:
    """Signed in as a user of the current tenant."""
    return bool(user and user.is_authenticated and user.is_active and _in_tenant())


def has_role(user, role: Role) -> bool:
    return is_member(user) and ROLE_RANK.get(user.role, -1) >= ROLE_RANK[role]


def is_agent(user) -> bool:
    """Agents and admins work tickets."""
    return has_role(user, Role.AGENT)


def is_tenant_admin(user) -> bool:
    return has_role(user, Role.ADMIN)


def is_platform_admin(user) -> bool:
    return bool(
        user and user.is_authenticated and user.is_active and user.is_superuser and not _in_tenant()
    )


def can_use_admin_site(user) -> bool:
    """Tenant admins use the tenant's Django admin; platform admins the public one."""
    return is_tenant_admin(user) or is_platform_admin(user)


class IsTenantMember(BasePermission):
    message = "Sign in as a user of this organisation."

    def has_permission(self, request, view) -> bool:
        return is_member(request.user)


class IsAgent(BasePermission):
    message = "Only agents and admins may do this."

    def has_permission(self, request, view) -> bool:
        return is_agent(request.user)


class IsTenantAdmin(BasePermission):
    message = "Only tenant admins may do this."

    def has_permission(self, request, view) -> bool:
        return is_tenant_admin(request.user)
