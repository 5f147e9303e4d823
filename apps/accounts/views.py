from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

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
    """The platform host's landing page: where organisations live and where the platform
    administration is, as addresses built like every link Warden prints (base domain and
    public port), in the scheme the visitor used."""
    port = settings.WARDEN_PUBLIC_PORT
    base_host = f"{settings.WARDEN_BASE_DOMAIN}{f':{port}' if port else ''}"
    return render(
        request,
        "core/platform_home.html",
        {
            "scheme": request.scheme,
            "base_host": base_host,
            "admin_url": f"{request.scheme}://{base_host}{reverse('admin:index')}",
        },
    )
