"""The tenant's own settings pages for its admins (on the tenant host): security, time zone."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from apps.accounts import permissions
from apps.accounts.forms import TimeZoneField
from apps.core.errors import ApplicationError
from apps.core.errors import PermissionDenied as AppPermissionDenied

from .services import tenant_set_admin_mfa, tenant_set_time_zone


class SecurityForm(forms.Form):
    mfa_required_for_admins = forms.BooleanField(
        label=_("Require two-factor authentication (TOTP) for admins"),
        required=False,
        help_text=_(
            "Admins without an authenticator app are sent to enrol one before anything else, and need a "
            "code to get an API token."
        ),
    )


def security_view(request: HttpRequest) -> HttpResponse:
    """GET shows the settings; POST changes them through the tenants service (policy
    `tenant.security`, audited). Served inside the admin site, which signs people in."""
    tenant = request.tenant
    if tenant.is_public or not permissions.is_tenant_admin(request.user):
        raise PermissionDenied
    if request.method == "POST":
        form = SecurityForm(request.POST)
        if form.is_valid():
            tenant_set_admin_mfa(
                tenant=tenant, required=form.cleaned_data["mfa_required_for_admins"], actor=request.user
            )
            messages.success(request, _("Security settings saved."))
            return redirect("tenant-security")
    else:
        form = SecurityForm(initial={"mfa_required_for_admins": tenant.mfa_required_for_admins})
    from allauth.mfa.models import Authenticator

    context = {
        **_admin_context(request),
        "title": _("Security"),
        "form": form,
        "has_totp": Authenticator.objects.filter(user=request.user, type=Authenticator.Type.TOTP).exists(),
    }
    return render(request, "tenants/security.html", context)


class TimeZoneForm(forms.Form):
    time_zone = TimeZoneField(
        label=_("Organisation time zone"),
        help_text=_(
            "Dates and times on every page, in emails and exports are shown in this zone to everyone who has not "
            "chosen their own on their profile page."
        ),
    )

    def __init__(self, *args, current: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = self.fields["time_zone"].zone_choices(current=current)


def time_zone_view(request: HttpRequest) -> HttpResponse:
    """GET shows the organisation's time zone; POST changes it through the tenants service
    (policy `tenant.configure`, audited as `tenant.time_zone_changed`)."""
    from apps.accounts.models import User
    from apps.core.timezones import abbreviation

    tenant = request.tenant
    if tenant.is_public or not permissions.is_tenant_admin(request.user):
        raise PermissionDenied
    form = TimeZoneForm(
        request.POST if request.method == "POST" else None, current=tenant.time_zone,
        initial={"time_zone": tenant.time_zone},
    )
    if request.method == "POST" and form.is_valid():
        try:
            tenant_set_time_zone(tenant=tenant, time_zone=form.cleaned_data["time_zone"], actor=request.user)
        except AppPermissionDenied:
            raise  # a policy denial: the error middleware answers 403 and keeps its record
        except ApplicationError as exc:
            for message in exc.errors.get("time_zone", [exc.message]):
                form.add_error("time_zone", message)
        else:
            messages.success(request, _("The organisation's time zone is now %(zone)s (%(abbreviation)s).") % {
                "zone": tenant.time_zone, "abbreviation": abbreviation(name=tenant.time_zone)})
            return redirect("tenant-time-zone")
    context = {
        **_admin_context(request),
        "title": _("Time zone"),
        "form": form,
        "own_zones": User.objects.filter(is_active=True).exclude(time_zone="").count(),
    }
    return render(request, "tenants/time_zone.html", context, status=422 if form.errors else 200)


def _admin_context(request: HttpRequest) -> dict:
    from django.contrib import admin

    return admin.site.each_context(request)


def mailbox_view(request: HttpRequest, name: str | None = None) -> HttpResponse:
    """The mail a local or demo install kept instead of sending (apps.core.mail), for
    platform admins. There is no such page where mail is really sent."""
    from django.http import Http404

    from apps.core import mail

    if mail.capture_dir() is None:
        raise Http404
    if not permissions.is_platform_admin(request.user):
        return redirect(f"/admin/login/?next={request.path}")
    if name is None:
        return render(request, "tenants/mailbox.html", {"messages_kept": mail.captured()})
    found = mail.captured_one(name)
    if found is None:
        raise Http404
    return render(request, "tenants/mailbox_message.html", {"mail": found})
