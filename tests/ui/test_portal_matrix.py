"""Who may load and post what in the requester portal: role x route x object, over every
route of apps/portal/urls.py (a new route without a case fails).

The rule (docs/portal.md, "Who may use the portal"): the portal is the *requester's* view.
Any signed-in member of the tenant may use it for the requests they raised themselves,
agents and admins included; everybody else's ticket is 404 there, also for agents and
admins, who work those tickets in the desk. Anonymous visitors, and sessions of another
tenant, are sent to the sign-in page. Another tenant's ticket is 404 like a missing one.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse

from apps.accounts.models import User
from apps.notifications.models import Watcher, WatcherKind
from apps.tickets import services
from apps.tickets.choices import TicketStatus
from apps.tickets.models import Ticket, TicketComment

HOST = "alpha.localhost"
TITLES = {"requester's": "Requester's printer SECRET-R", "agent's": "Agent's own monitor SECRET-A",
          "foreign": "Beta's ticket SECRET-B"}
ROLES = ("anonymous", "requester", "other requester", "agent", "admin", "other tenant")
OBJECTS = tuple(TITLES)
# Whose session each role is (None: none). "other tenant" signs in on beta.
EMAILS = {"requester": "requester@alpha.test", "other requester": "requester2@alpha.test",
          "agent": "agent@alpha.test", "admin": "admin@alpha.test", "other tenant": "requester@beta.test"}
OWNERS = {"requester's": "requester@alpha.test", "agent's": "agent@alpha.test", "foreign": "requester@beta.test"}

# route -> (method, per ticket, data, status for a member (tenant-wide routes) or the ticket's requester)
ROUTES = {
    "list": ("get", False, None, 200),
    "new": ("get", False, None, 200),
    "new (post)": ("post", False, {"title": "Matrix-made request", "impact": "3", "urgency": "3"}, 302),
    "new-due": ("get", False, {"impact": "1", "urgency": "1"}, 200),
    "detail": ("get", True, None, 200),
    "download": ("get", True, None, 302),
    "reply": ("post", True, {"body": "Any news?"}, 302),
    "reopen": ("post", True, {"reason": "Still broken."}, 302),
    "cancel": ("post", True, {"reason": "Not needed any more."}, 302),
    "cc-add": ("post", True, {"email": "requester2@alpha.test"}, 302),
    "cc-remove": ("post", True, None, 302),  # removes requester2 (copied in or not: idempotent)
}


def test_every_portal_route_has_matrix_cases():
    resolver = get_resolver("apps.portal.urls")
    names = {p.name for p in resolver.url_patterns if isinstance(p, URLPattern)}
    routes = {name.removesuffix(" (post)") for name in ROUTES}
    assert names == routes, names ^ routes


def _upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"plain text notes\n", content_type="text/plain")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    from tests.ui.test_portal_views import _forget_media_root

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 0
    _forget_media_root()
    yield
    _forget_media_root()


def _make(owner_email: str, title: str, *, resolve: bool, resolver_email: str):
    owner = User.objects.get(email=owner_email)
    ticket = services.ticket_create(actor=owner, title=title)
    attachment = services.attachment_add(actor=owner, ticket=ticket, fileobj=_upload("notes.txt"), filename="notes.txt")
    if resolve:
        ticket = services.ticket_transition(actor=User.objects.get(email=resolver_email), ticket=ticket,
                                            to=TicketStatus.RESOLVED, resolution_code="fixed", resolution_note="Done.")
    return ticket, attachment.pk


@pytest.fixture
def objects(request, tenant, other_tenant):
    """The three tickets, each with a public file; resolved when the route is "reopen"."""
    from apps.tickets.models import TicketCounter

    resolve = request.node.callspec.params.get("route") == "reopen"
    made = {}
    for key in ("requester's", "agent's"):
        made[key] = _make(OWNERS[key], TITLES[key], resolve=resolve, resolver_email="admin@alpha.test")
    connection.set_tenant(other_tenant)
    try:
        TicketCounter.objects.update(last_number=900_000)  # a number alpha does not have
        made["foreign"] = _make(OWNERS["foreign"], TITLES["foreign"], resolve=resolve, resolver_email="admin@beta.test")
    finally:
        connection.set_tenant(tenant)
    assert not Ticket.objects.filter(number=made["foreign"][0].number).exists()
    return made


def _client(role: str, tenant, other_tenant) -> Client:
    client = Client(HTTP_HOST=HOST)
    if role == "anonymous":
        return client
    if role == "other tenant":
        # A real session of beta's requester, made in beta's schema, sent to alpha's host.
        connection.set_tenant(other_tenant)
        try:
            client.force_login(User.objects.get(email=EMAILS[role]), backend="django.contrib.auth.backends.ModelBackend")
        finally:
            connection.set_tenant(tenant)
        return client
    client.force_login(User.objects.get(email=EMAILS[role]), backend="django.contrib.auth.backends.ModelBackend")
    return client


def _target(route: str, ticket=None, attachment_id=None) -> str:
    if route == "download":
        return reverse("portal:download", args=[ticket.number, attachment_id])
    if route == "cc-remove":
        return reverse("portal:cc-remove", args=[ticket.number, User.objects.get(email="requester2@alpha.test").pk])
    if ticket is not None:
        return reverse(f"portal:{route}", args=[ticket.number])
    return reverse(f"portal:{route.removesuffix(' (post)')}")


MATRIX = [
    (role, route, obj)
    for route, (_method, per_ticket, _data, _status) in ROUTES.items()
    for obj in (OBJECTS if per_ticket else ("-",))
    for role in ROLES
]


@pytest.mark.parametrize(("role", "route", "obj"), MATRIX)
def test_portal_permission_matrix(role, route, obj, objects, tenant, other_tenant):
    method, per_ticket, data, success = ROUTES[route]
    ticket, attachment_id = objects[obj] if per_ticket else (None, None)
    before = None
    if ticket is not None and obj != "foreign":
        before = (Ticket.objects.get(pk=ticket.pk).status, TicketComment.objects.filter(ticket=ticket).count())
    client = _client(role, tenant, other_tenant)
    response = getattr(client, method)(_target(route, ticket, attachment_id), data or {})
    body = response.content.decode()

    signed_in = role not in ("anonymous", "other tenant")
    allowed = signed_in and (not per_ticket or OWNERS[obj] == EMAILS[role])
    if not signed_in:
        expected = 302
    elif allowed:
        expected = success
    else:
        expected = 404  # somebody else's ticket, or another tenant's: indistinguishable from a missing one
    assert response.status_code == expected, (response.status_code, body[:300])

    if not signed_in:
        assert response["Location"].startswith(reverse("account_login") + "?next=")
    for key, title in TITLES.items():
        # A title shows only on a successful answer to the ticket's own requester.
        if not (allowed and OWNERS[key] == EMAILS.get(role)):
            assert title not in body, f"{title} leaked to {role} on {route}"
    if before is not None and not allowed:
        # Nothing was written for a refused request.
        after = (Ticket.objects.get(pk=ticket.pk).status, TicketComment.objects.filter(ticket=ticket).count())
        assert after == before
    if allowed and route in ("reply", "reopen", "cancel"):
        ticket.refresh_from_db()
        effect = {"reply": lambda: TicketComment.objects.filter(ticket=ticket, body="Any news?").exists(),
                  "reopen": lambda: ticket.status == TicketStatus.OPEN,
                  "cancel": lambda: ticket.status == TicketStatus.CANCELLED}[route]
        assert effect(), f"{route} by {role} answered {expected} but changed nothing"
    copied = Watcher.objects.filter(user__email="requester2@alpha.test", kind=WatcherKind.CC)
    if route == "cc-add" and allowed:
        assert list(copied.values_list("ticket_id", flat=True)) == [ticket.pk]
    else:
        assert not copied.exists()
    if allowed and route == "download":
        assert response["Location"].startswith("/api/v1/attachments/download/")
    made = Ticket.objects.filter(title="Matrix-made request").select_related("requester")
    if route == "new (post)" and allowed:
        assert [t.requester.email for t in made] == [EMAILS[role]]  # always the signed-in user's own request
    else:
        assert not made.exists()
