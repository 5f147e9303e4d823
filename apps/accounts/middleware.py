from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from .permissions import is_tenant_admin

ALLOWED_PREFIXES = ("/accounts/", "/static/", "/health/", "/ready/", "/metrics", "/i18n/")


class MfaRequiredMiddleware:
    """Tenant admins of a tenant that requires MFA must enrol TOTP before anything else."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        user = getattr(request, "user", None)
        if (
            tenant is not None
            and not tenant.is_public
            and tenant.mfa_required_for_admins
            and is_tenant_admin(user)
            and not request.path.startswith(ALLOWED_PREFIXES)
            and request.session.get("_auth_user_backend") is not None  # browser sessions only
            and not _has_totp(user)
        ):
            if request.path.startswith("/api/"):
                from apps.core.problems import problem_response

                return problem_response(403, _("Your organisation requires two-factor authentication: enrol TOTP first."))
            return redirect(reverse("mfa_activate_totp") + "?next=" + request.path)
        return self.get_response(request)


def _has_totp(user) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
