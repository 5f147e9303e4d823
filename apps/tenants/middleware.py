"""Host -> tenant, then the tenant-level gates (suspension, residency)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy
from django_tenants.middleware.main import TenantMainMiddleware

from apps.core.problems import error_page

from . import residency


class TenantMiddleware(TenantMainMiddleware):
    """django-tenants' host routing; an unknown host is a plain 404, never another tenant."""

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> HttpResponse:
        return error_page(request, 404, gettext_lazy("No organisation is served at this address."))


EXEMPT_PREFIXES = ("/health/", "/ready/", "/metrics", "/static/")


class TenantAccessMiddleware:
    """Refuses every request for a suspended tenant or one this deployment may not serve."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is None or tenant.is_public or request.path.startswith(EXEMPT_PREFIXES):
            return self.get_response(request)
        if not tenant.is_active:
            return error_page(
                request, 403, gettext_lazy("This organisation's access is suspended. Contact your administrator."),
                title=gettext_lazy("Organisation suspended"),
            )
        if not residency.may_serve(tenant):
            return residency.residency_refused(request, tenant)
        return self.get_response(request)
