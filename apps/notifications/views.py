"""The notification centre (desk and portal), preferences, and one-click unsubscribe.
Thin: reads through the selectors, writes through the services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts import permissions
from apps.accounts.models import User
from apps.core.errors import ApplicationError

from . import conf, selectors
from . import render as rendering
from .channels.email import read_unsubscribe_token
from .forms import PreferencesForm
from .kinds import Kind
from .services.inbox import notifications_mark_read
from .services.preferences import preference_unsubscribe, preferences_set

PAGE = 50


def _base(request: HttpRequest) -> str:
    return "desk/desk_base.html" if permissions.is_agent(request.user) else "portal/base.html"


def _member(view):
    def wrapped(request, *args, **kwargs):
        if not permissions.is_member(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return login_required(wrapped)


@_member
def inbox_view(request: HttpRequest) -> HttpResponse:
    unread = request.GET.get("unread") == "1"
    kind = request.GET.get("kind") or None
    if kind not in Kind.values:
        kind = None
    rows = list(selectors.notification_list(user=request.user, unread=unread, kind=kind)[:PAGE])
    return render(request, "notifications/inbox.html", {
        "base_template": _base(request),
        "items": rendering.items(rows, request.user, absolute=False),
        "unread_only": unread,
        "kind": kind,
        "kinds": [(k.value, k.label) for k in Kind],
        "unread_count": selectors.unread_count(user=request.user),
    })


@_member
def bell_view(request: HttpRequest) -> HttpResponse:
    """The bell's unread count (htmx polls it)."""
    return render(request, "notifications/_bell.html", {
        "unread_count": selectors.unread_count(user=request.user),
        "poll_seconds": conf.get("WARDEN_NOTIFICATIONS_POLL_SECONDS"),
    })


@_member
@require_POST
def read_view(request: HttpRequest) -> HttpResponse:
    if request.POST.get("all") == "1":
        notifications_mark_read(actor=request.user, everything=True)
    else:
        notifications_mark_read(actor=request.user, ids=[int(i) for i in request.POST.getlist("id") if i.isdigit()])
    target = request.POST.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect("notifications:inbox")


@_member
@require_GET
def open_view(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Follow a notification to its ticket, marking it read on the way (one's own only)."""
    notification = selectors.notification_list(user=request.user).filter(pk=notification_id).first()
    if notification is None:
        raise Http404
    notifications_mark_read(actor=request.user, ids=[notification.pk])
    return redirect(rendering.items([notification], request.user, absolute=False)[0].url)


@_member
@require_http_methods(["GET", "POST"])
def preferences_view(request: HttpRequest) -> HttpResponse:
    form = PreferencesForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            preferences_set(actor=request.user, user=request.user, **form.service_arguments())
        except ApplicationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Your notification preferences were saved."))
            return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"base_template": _base(request), "form": form},
                  status=422 if form.errors else 200)


@csrf_exempt  # the signed token stands for the person (RFC 8058 one-click: mail clients POST without a session)
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user_id, kind = read_unsubscribe_token(token)
    except signing.BadSignature:
        raise Http404 from None
    person = User.objects.filter(pk=user_id, is_active=True).first()
    if person is None:
        raise Http404
    if request.method == "POST":
        preference_unsubscribe(user=person, kind=kind)
        return render(request, "notifications/unsubscribed.html", {"kind": kind})
    return render(request, "notifications/unsubscribe.html", {"kind": kind, "token": token})
