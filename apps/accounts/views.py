from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from apps.core.errors import ApplicationError, PermissionDenied
from apps.core.timezones import abbreviation

from . import permissions
from .forms import ProfileTimeZoneForm
from .services import user_set_time_zone
from .zones import zone_name_for


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


@require_http_methods(["GET", "POST"])
def profile_view(request: HttpRequest) -> HttpResponse:
    """A person's own profile on a tenant host: who they are and the time zone they see
    dates and times in (`services.user_set_time_zone`: their own, audited). The desk's
    layout for agents, the portal's for everyone else."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('account_login')}?next={request.path}")
    if not permissions.is_member(request.user):
        raise Http404
    user = request.user
    organisation_zone = zone_name_for(None, request.tenant)
    form = ProfileTimeZoneForm(
        request.POST if request.method == "POST" else None,
        organisation_zone=organisation_zone,
        current=user.time_zone,
        initial={"time_zone": user.time_zone},
    )
    if request.method == "POST" and form.is_valid():
        try:
            user_set_time_zone(user=user, time_zone=form.cleaned_data["time_zone"], actor=user)
        except PermissionDenied:
            raise
        except ApplicationError as exc:
            for message in exc.errors.get("time_zone", [exc.message]):
                form.add_error("time_zone", message)
        else:
            shown = zone_name_for(user, request.tenant)
            messages.success(request, _("Saved: dates and times are now shown in %(zone)s (%(abbreviation)s).") % {
                "zone": shown, "abbreviation": abbreviation(name=shown)})
            return redirect("profile")
    shown = zone_name_for(user, request.tenant)
    return render(
        request,
        "accounts/profile.html",
        {
            "base_template": "desk/desk_base.html" if permissions.is_agent(user) else "portal/base.html",
            "form": form,
            "shown_zone": shown,
            "organisation_zone": organisation_zone,
        },
        status=422 if form.errors else 200,
    )
