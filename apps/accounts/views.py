from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from . import permissions


def home(request: HttpRequest) -> HttpResponse:
    """Tenant landing page: who you are and where to go."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    if permissions.is_agent(request.user):
        return redirect("desk:queue")
    if permissions.is_member(request.user):
        return redirect("portal:list")
    return render(
        request,
        "core/home.html",
        {"is_agent": permissions.is_agent(request.user), "is_admin": permissions.is_tenant_admin(request.user)},
    )


def platform_home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/platform_home.html")
