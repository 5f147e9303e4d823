"""Role x action x object matrix over EVERY route of the API v1 (`/api/v1/`).

Objects: `own` (the requester's ticket, a link issued to the caller, this tenant's SLA
policy or policy version, the caller's own credentials), `other` (another requester's
ticket, a link issued to someone else), `foreign` (tenant beta's object, whose id does
not exist in alpha). Another tenant's or another requester's object is 404, never 403;
an action the role may not take is 403 (for routes only some roles may use, whatever
the object: the role is refused before anything is looked up, so a 403 tells nothing
about whether the object exists).

Every (route, method) under /api/v1/ except the schema and its docs pages needs a case
here: `test_every_api_route_has_matrix_cases` fails for a route added without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver

from apps.tickets import services, uploads
from tests.conftest import PASSWORD

ROLES = ("requester", "agent", "admin")
OWNERSHIP = ("own", "other", "foreign")
OWN_FOREIGN = ("own", "foreign")
# Served to anyone for reading the API's description; not resources.
DOCUMENTATION_ROUTES = {"schema", "api-docs", "api-redoc"}


@dataclass
class Case:
    route: str  # "namespace:url name" (or the bare name outside a namespace)
    method: str
    path: str  # with {number}, {attachment}, {token}, {sla_policy}, {version} placeholders
    expect: dict[str, Any]  # role -> status, or role -> {ownership: status}
    body: dict | None = None
    multipart: bool = False
    objects: tuple[str, ...] = field(default=("-",))


def obj(requester: tuple[int, ...], agent: tuple[int, ...], admin: tuple[int, ...] | None = None,
        objects: tuple[str, ...] = OWNERSHIP):
    admin = admin or agent
    return {
        role: dict(zip(objects, codes, strict=True))
        for role, codes in (("requester", requester), ("agent", agent), ("admin", admin))
    }


def flat(requester: int, agent: int, admin: int | None = None) -> dict[str, int]:
    return {"requester": requester, "agent": agent, "admin": agent if admin is None else admin}


def sla_policy_body(name: str = "Matrix policy") -> dict:
    return {"name": name, "order": 5, "calendar": "{calendar}",
            "targets": {"P1": {"first_response": 15, "resolution": 120}}}


T = "/api/v1/tickets/{number}/"
SLA = "/api/v1/sla/policies/{sla_policy}/"
C = "/api/v1/connectors/{connector}/"
ADMIN_ONLY = obj((403, 403), (403, 403), (200, 404), OWN_FOREIGN)
CASES: dict[str, Case] = {
    # --- auth
    "get a token": Case("api-auth-token", "POST", "/api/v1/auth/token/", obj((200, 400), (200, 400), objects=OWN_FOREIGN),
                        body={"email": "{email}", "password": PASSWORD}, objects=OWN_FOREIGN),
    # --- audit and governance (tenant admins only)
    "list audit events": Case("audit:event-list", "GET", "/api/v1/audit/events/", flat(403, 403, 200)),
    "simulate policies": Case("policies:simulate", "POST", "/api/v1/policies/simulate/", flat(403, 403, 200),
                              body={"rules": [], "days": 1}),
    "list policy versions": Case("policies:version-list", "GET", "/api/v1/policies/versions/", flat(403, 403, 200)),
    "view policy version": Case(
        "policies:version-detail", "GET", "/api/v1/policies/versions/{version}/",
        obj((403, 403), (403, 403), (200, 404), objects=OWN_FOREIGN), objects=OWN_FOREIGN,
    ),
    # --- SLA (agents read, admins write)
    "list sla policies": Case("sla-api:policy-list", "GET", "/api/v1/sla/policies/", flat(403, 200)),
    "create sla policy": Case("sla-api:policy-list", "POST", "/api/v1/sla/policies/", flat(403, 403, 201),
                              body=sla_policy_body()),
    "view sla policy": Case("sla-api:policy-detail", "GET", SLA,
                            obj((403, 403), (200, 404), objects=OWN_FOREIGN), objects=OWN_FOREIGN),
    "replace sla policy": Case("sla-api:policy-detail", "PUT", SLA,
                               obj((403, 403), (403, 403), (200, 404), objects=OWN_FOREIGN),
                               body=sla_policy_body("Replaced"), objects=OWN_FOREIGN),
    "edit sla policy": Case("sla-api:policy-detail", "PATCH", SLA,
                            obj((403, 403), (403, 403), (200, 404), objects=OWN_FOREIGN),
                            body={"order": 7}, objects=OWN_FOREIGN),
    "delete sla policy": Case("sla-api:policy-detail", "DELETE", SLA,
                              obj((403, 403), (403, 403), (204, 404), objects=OWN_FOREIGN), objects=OWN_FOREIGN),
    "list calendars": Case("sla-api:calendar-list", "GET", "/api/v1/sla/calendars/", flat(403, 200)),
    "sla dashboard": Case("sla-api:dashboard", "GET", "/api/v1/sla/dashboard/", flat(403, 200)),
    # --- triage (agents and admins; CONTRACT.md)
    "list triage proposals": Case("triage-api:proposals", "GET", "/api/v1/triage/proposals/", flat(403, 200)),
    "view triage proposal": Case("triage-api:proposal", "GET", "/api/v1/triage/proposals/{proposal}/",
                                 obj((403, 403), (200, 404), objects=OWN_FOREIGN), objects=OWN_FOREIGN),
    "decide triage proposal": Case("triage-api:decision", "POST", "/api/v1/triage/proposals/{proposal}/decision/",
                                   obj((403, 403), (200, 404), objects=OWN_FOREIGN),
                                   body={"decision": "reject", "reason": "Not ours", "version": 1},
                                   objects=OWN_FOREIGN),
    # --- notifications: everyone's own
    "list notifications": Case("notifications-api:list", "GET", "/api/v1/notifications/", flat(200, 200)),
    "mark notifications read": Case("notifications-api:read", "POST", "/api/v1/notifications/read/", flat(200, 200),
                                    body={"all": True}),
    "notification preferences": Case("notifications-api:preferences", "GET", "/api/v1/notifications/preferences/",
                                     flat(200, 200)),
    "change notification preferences": Case("notifications-api:preferences", "PATCH",
                                            "/api/v1/notifications/preferences/", flat(200, 200),
                                            body={"email_digest": "daily"}),
    "replace notification preferences": Case("notifications-api:preferences", "PUT",
                                             "/api/v1/notifications/preferences/", flat(200, 200),
                                             body={"email_digest": "hourly"}),
    # --- tickets
    "list tickets": Case("tickets:ticket-list", "GET", "/api/v1/tickets/", flat(200, 200)),
    "create ticket": Case("tickets:ticket-list", "POST", "/api/v1/tickets/", flat(201, 201), body={"title": "New one"}),
    "create ticket for someone else": Case(
        "tickets:ticket-list", "POST", "/api/v1/tickets/", flat(403, 201),
        body={"title": "For you", "requester": "{requester2}"},
    ),
    "view ticket": Case("tickets:ticket-detail", "GET", T, obj((200, 404, 404), (200, 200, 404)), objects=OWNERSHIP),
    "edit ticket": Case(
        "tickets:ticket-detail", "PATCH", T, obj((403, 404, 404), (200, 200, 404)), body={"title": "Renamed"},
        objects=OWNERSHIP,
    ),
    "assign ticket": Case(
        "tickets:ticket-detail", "PATCH", T, obj((403, 404, 404), (200, 200, 404)), body={"assignee": "{agent}"},
        objects=OWNERSHIP,
    ),
    "cancel ticket": Case(
        "tickets:ticket-transition", "POST", T + "transition/", obj((200, 404, 404), (200, 200, 404)),
        body={"to": "cancelled", "reason": "Not needed"}, objects=OWNERSHIP,
    ),
    "resolve ticket": Case(
        "tickets:ticket-transition", "POST", T + "transition/", obj((403, 404, 404), (200, 200, 404)),
        body={"to": "resolved", "resolution_code": "fixed", "resolution_note": "Done"}, objects=OWNERSHIP,
    ),
    "list comments": Case("tickets:ticket-comments", "GET", T + "comments/", obj((200, 404, 404), (200, 200, 404)),
                          objects=OWNERSHIP),
    "comment": Case("tickets:ticket-comments", "POST", T + "comments/", obj((201, 404, 404), (201, 201, 404)),
                    body={"body": "Hello"}, objects=OWNERSHIP),
    "internal note": Case("tickets:ticket-comments", "POST", T + "comments/", obj((403, 404, 404), (201, 201, 404)),
                          body={"body": "Between us", "internal": True}, objects=OWNERSHIP),
    "list attachments": Case("tickets:ticket-attachments", "GET", T + "attachments/",
                             obj((200, 404, 404), (200, 200, 404)), objects=OWNERSHIP),
    "upload": Case("tickets:ticket-attachments", "POST", T + "attachments/", obj((201, 404, 404), (201, 201, 404)),
                   body={"file": "png"}, multipart=True, objects=OWNERSHIP),
    "upload internal": Case("tickets:ticket-attachments", "POST", T + "attachments/",
                            obj((403, 404, 404), (201, 201, 404)),
                            body={"file": "png", "visibility": "internal"}, multipart=True, objects=OWNERSHIP),
    "download link": Case(
        "tickets:ticket-attachment-link", "GET", T + "attachments/{attachment}/download/",
        obj((200, 404, 404), (200, 200, 404)), objects=OWNERSHIP,
    ),
    "download": Case(
        "tickets:attachment-download", "GET", "/api/v1/attachments/download/{token}/",
        obj((200, 404, 404), (200, 404, 404)), objects=OWNERSHIP,
    ),
    "list categories": Case("tickets:category-list", "GET", "/api/v1/categories/", flat(200, 200)),
    "create category": Case("tickets:category-list", "POST", "/api/v1/categories/", flat(403, 403, 201),
                            body={"name": "Facilities"}),
    "list teams": Case("tickets:team-list", "GET", "/api/v1/teams/", flat(200, 200)),
    # Connectors: tenant admins only; another tenant's connector is 404 to them.
    "list connectors": Case("connectors-api:list", "GET", "/api/v1/connectors/", flat(403, 403, 200)),
    "create connector": Case("connectors-api:list", "POST", "/api/v1/connectors/", flat(403, 403, 201),
                             body={"kind": "servicenow", "name": "matrix-made", "base_url": "https://acme.service-now.com",
                                   "secret": "matrix-secret-value"}),
    "view connector": Case("connectors-api:detail", "GET", C, ADMIN_ONLY, objects=OWN_FOREIGN),
    "edit connector": Case("connectors-api:detail", "PATCH", C, ADMIN_ONLY, body={"name": "renamed"},
                           objects=OWN_FOREIGN),
    "delete connector": Case("connectors-api:detail", "DELETE", C, obj((403, 403), (403, 403), (204, 404), OWN_FOREIGN),
                             objects=OWN_FOREIGN),
    "test connector": Case("connectors-api:test", "POST", C + "test/", ADMIN_ONLY, objects=OWN_FOREIGN),
    "connector calls": Case("connectors-api:calls", "GET", C + "calls/", ADMIN_ONLY, objects=OWN_FOREIGN),
    "connector dead letters": Case("connectors-api:dead-letters", "GET", C + "dead-letters/", ADMIN_ONLY,
                                   objects=OWN_FOREIGN),
    "retry dead letter": Case("connectors-api:dead-letter-retry", "POST", C + "dead-letters/{dead_letter}/retry/",
                              ADMIN_ONLY, objects=OWN_FOREIGN),
    # The customer agent's endpoints take an agent token only: a user's token is 401, whatever the role.
    "agent poll": Case("connectors-api:agent-poll", "POST", "/api/v1/connectors/agent/poll/", flat(401, 401, 401),
                       body={"wait": 0}),
    "agent results": Case("connectors-api:agent-results", "POST", "/api/v1/connectors/agent/results/",
                          flat(401, 401, 401), body={"results": []}),
}


def _params():
    for name, case in CASES.items():
        for role in ROLES:
            for ownership in case.objects:
                expected = case.expect[role]
                status = expected[ownership] if isinstance(expected, dict) else expected
                yield pytest.param(name, role, ownership, status, id=f"{name}-{role}-{ownership}")


def api_routes() -> set[tuple[str, str]]:
    """("namespace:name", method) of every route under /api/v1/, documentation pages aside."""
    found: set[tuple[str, str]] = set()

    def walk(patterns, namespace: str | None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                if pattern.name in DOCUMENTATION_ROUTES and namespace is None:
                    continue
                route = f"{namespace}:{pattern.name}" if namespace else str(pattern.name)
                view = getattr(pattern.callback, "view_class", None)
                assert view is not None, f"{route}: not a class-based API view"
                for method in view.http_method_names:
                    if method not in ("options", "head") and hasattr(view, method):
                        found.add((route, method.upper()))

    api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/v1/")
    walk(api.url_patterns, None)
    return found


def test_every_api_route_has_matrix_cases(tenant):
    routes = api_routes()
    namespaces = {route.split(":")[0] for route, _method in routes if ":" in route}
    assert {"tickets", "audit", "policies", "sla-api"} <= namespaces, namespaces
    covered = {(case.route, case.method) for case in CASES.values()}
    missing = sorted(routes - covered)
    assert not missing, f"API routes without a permission-matrix case: {missing}"
    assert not covered - routes, f"matrix cases for routes that do not exist: {sorted(covered - routes)}"


def _sla_calendar_and_policy(actor, name: str):
    from apps.sla import services as sla
    from apps.sla.validation import CalendarInput, PolicyInput

    calendar = sla.sla_calendar_save(
        actor=actor, data=CalendarInput(name=f"{name} hours", timezone="UTC", always_open=True)
    )
    policy = sla.sla_policy_save(
        actor=actor,
        data=PolicyInput(name=name, calendar=calendar, targets={"P1": {"first_response": 30, "resolution": 240}}),
    )
    return calendar, policy


class World:
    """The objects of the matrix, each group made on first use (a case needs one group)."""

    def __init__(self, *, tenant, other_tenant, users: dict, requester2, make_ticket, png_file):
        self.tenant, self.other_tenant = tenant, other_tenant
        self.users = {**users, "requester2": requester2}
        self.make_ticket, self.png_file = make_ticket, png_file

    def in_beta(self, make):
        connection.set_tenant(self.other_tenant)
        try:
            return make()
        finally:
            connection.set_tenant(self.tenant)

    def beta_user(self, role: str):
        from apps.accounts.models import User

        return User.objects.get(email=f"{role}@beta.test")

    @cached_property
    def tickets(self) -> dict:
        """Ticket numbers, attachment ids and download tokens (per role) by ownership."""
        from apps.tickets.models import TicketCounter

        own = self.make_ticket(title="Own ticket")
        other = self.make_ticket(self.users["requester2"], title="Other's ticket")
        add = services.attachment_add
        own_file = add(actor=self.users["requester"], ticket=own, fileobj=self.png_file(), filename="own.png")
        other_file = add(actor=self.users["requester2"], ticket=other, fileobj=self.png_file(), filename="o.png")

        def beta():
            TicketCounter.objects.update(last_number=500_000)
            requester = self.beta_user("requester")
            foreign = services.ticket_create(actor=requester, title="Beta ticket")
            attached = add(actor=requester, ticket=foreign, fileobj=self.png_file(), filename="b.png")
            token = uploads.make_token(attachment_id=attached.pk, user_id=requester.pk, ttl_seconds=300)
            return foreign, attached, token

        foreign, foreign_file, foreign_token = self.in_beta(beta)
        tokens = {}
        for role in ROLES:
            user = self.users[role]
            tokens[(role, "own")] = uploads.make_token(attachment_id=own_file.pk, user_id=user.pk, ttl_seconds=300)
            tokens[(role, "other")] = uploads.make_token(
                attachment_id=other_file.pk, user_id=self.users["requester2"].pk, ttl_seconds=300
            )
            tokens[(role, "foreign")] = foreign_token
        return {
            "number": {"own": own.number, "other": other.number, "foreign": foreign.number},
            "attachment": {"own": own_file.pk, "other": other_file.pk, "foreign": foreign_file.pk},
            "token": tokens,
        }

    @cached_property
    def sla(self) -> dict:
        """This tenant's calendar id; SLA policy ids by ownership (beta's far above alpha's)."""
        from apps.sla.models import SlaCalendar, SlaPolicy

        calendar, own = _sla_calendar_and_policy(self.users["admin"], "Alpha standard")

        def beta():
            with connection.cursor() as cursor:  # a sequence is not rolled back with the test; harmless
                for table in (SlaPolicy._meta.db_table, SlaCalendar._meta.db_table):
                    cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), 900000)", [table])
            return _sla_calendar_and_policy(self.beta_user("admin"), "Beta standard")[1]

        foreign = self.in_beta(beta)
        return {"calendar": calendar.pk, "sla_policy": {"own": own.pk, "foreign": foreign.pk}}

    @cached_property
    def versions(self) -> dict:
        """Policy version numbers by ownership: beta publishes until it has one alpha lacks."""
        from apps.policies.models import PolicyVersion
        from apps.policies.services import policy_publish

        def latest() -> int:
            return PolicyVersion.objects.order_by("-number").values_list("number", flat=True).first()

        own = latest()

        def beta():
            admin = self.beta_user("admin")
            rules = PolicyVersion.objects.get(number=latest()).rules
            while latest() <= own:
                rules = [*rules, {"name": f"extra {len(rules)}", "subject": "*", "action": "ticket.view",
                                  "effect": "allow", "priority": 0}]
                policy_publish(actor=admin, rules=rules)
            return latest()

        foreign = self.in_beta(beta)
        assert not PolicyVersion.objects.filter(number=foreign).exists()
        return {"own": own, "foreign": foreign}

    @cached_property
    def connectors(self) -> dict:
        """Connector and dead-letter ids by ownership (beta's far above alpha's). Their hosts
        answer a public address when saved and a private one afterwards (tests/fakes/dns.py),
        so a Test connection or a retry is refused by the URL guard: no socket is opened."""
        from apps.connectors.models import Connector, DeadLetter
        from apps.connectors.services.connectors import connector_create
        from tests.fakes import dns

        def make(admin, host: str):
            dns.ANSWERS[host] = [["93.184.216.34"], ["10.0.0.5"]]
            dns._TURNS.pop(host, None)  # its first answer again (an earlier test of this process asked)
            connector = connector_create(actor=admin, kind="servicenow", name="matrix", base_url=f"https://{host}",
                                         auth_scheme="bearer", secret="matrix-secret-value", dry_run=False)
            letter = DeadLetter.objects.create(connector=connector, method="PATCH", path="/api/now/table/incident/1",
                                               body={"work_notes": "x"}, idempotency_key="matrix", attempts=4,
                                               last_error="HTTP 503")
            return connector.pk, letter.pk

        own = make(self.users["admin"], "matrix-alpha.service-now.com")

        def beta():
            with connection.cursor() as cursor:
                for table in (Connector._meta.db_table, DeadLetter._meta.db_table):
                    cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), 900000)", [table])
            return make(self.beta_user("admin"), "matrix-beta.service-now.com")

        foreign = self.in_beta(beta)
        return {"connector": {"own": own[0], "foreign": foreign[0]},
                "dead_letter": {"own": own[1], "foreign": foreign[1]}}

    @cached_property
    def proposals(self) -> dict:
        """A waiting triage proposal by ownership (beta's id far above alpha's)."""
        from apps.triage.models import Proposal

        def make(requester):
            ticket = services.ticket_create(actor=requester, title="Printer jams")
            return Proposal.objects.create(ticket=ticket, classifier="rules", confidence="0.90",
                                           changes={"urgency": 1}, before={"urgency": ticket.urgency},
                                           ticket_updated_at=ticket.updated_at).pk

        own = make(self.users["requester"])

        def beta():
            with connection.cursor() as cursor:
                cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), 900000)", [Proposal._meta.db_table])
            return make(self.beta_user("requester"))

        return {"own": own, "foreign": self.in_beta(beta)}

    def placeholder(self, name: str, role: str, key: str):
        if name == "proposal":
            return self.proposals[key]
        if name in ("connector", "dead_letter"):
            return self.connectors[name][key]
        if name in ("number", "attachment"):
            return self.tickets[name][key]
        if name == "token":
            return self.tickets["token"][(role, key)]
        if name == "sla_policy":
            return self.sla["sla_policy"][key]
        if name == "version":
            return self.versions[key]
        raise KeyError(name)


@pytest.fixture
def world(tenant, other_tenant, users, requester2_user, make_ticket, png_file):
    return World(tenant=tenant, other_tenant=other_tenant, users=users, requester2=requester2_user,
                 make_ticket=make_ticket, png_file=png_file)


class _Lazy(dict):
    def __init__(self, world: World, role: str, key: str):
        super().__init__()
        self.world, self.role, self.key = world, role, key

    def __missing__(self, name: str):
        return self.world.placeholder(name, self.role, self.key)


def _fill(value, world: World, role: str, ownership: str):
    """Placeholders in a body: {email} (the caller's, or its beta twin's for `foreign`),
    {calendar} (this tenant's), {<user>} (that user's id)."""
    if isinstance(value, dict):
        return {k: _fill(v, world, role, ownership) for k, v in value.items()}
    if not (isinstance(value, str) and value.startswith("{") and value.endswith("}")):
        return value
    name = value[1:-1]
    if name == "email":
        return f"{role}@beta.test" if ownership == "foreign" else world.users[role].email
    if name == "calendar":
        return world.sla["calendar"]
    return world.users[name].pk


@pytest.mark.parametrize(("name", "role", "ownership", "status"), list(_params()))
def test_matrix(name, role, ownership, status, world, api_as, png_file):
    case = CASES[name]
    key = ownership if ownership != "-" else "own"
    path = case.path.format_map(_Lazy(world, role, key))
    client = api_as(world.users[role])
    body = _fill(case.body or {}, world, role, ownership)
    if case.route == "api-auth-token":
        cache.delete("throttle_login_127.0.0.1")  # its own per-address limit, shared by the whole run
    if case.multipart:
        body["file"] = png_file()
        response = client.post(path, body, format="multipart")
    elif case.method == "GET":
        response = client.get(path)
    else:
        response = getattr(client, case.method.lower())(path, body, format="json")
    content = b"" if case.route == "tickets:attachment-download" and response.status_code == 200 else response.content
    assert response.status_code == status, (name, role, ownership, content[:500])
    if status >= 400:
        assert response["Content-Type"].startswith("application/problem+json")
        assert response.json()["status"] == status


@pytest.mark.parametrize("path", ["/api/v1/tickets/", "/api/v1/tickets/{number}/", "/api/v1/audit/events/",
                                  "/api/v1/sla/policies/"])
def test_a_token_of_one_tenant_means_nothing_on_another(path, world, api_as):
    client = api_as(world.users["admin"], host="beta.localhost")
    response = client.get(path.format_map(_Lazy(world, "admin", "own")))
    assert response.status_code == 401


def test_lists_never_show_another_tenants_objects(world, api_as):
    world.tickets, world.sla, world.versions  # noqa: B018  (made before listing)
    admin = api_as(world.users["admin"])
    numbers = {t["number"] for t in admin.get("/api/v1/tickets/", {"page_size": 100}).json()["results"]}
    assert world.tickets["number"]["foreign"] not in numbers
    assert world.tickets["number"]["own"] in numbers
    policies = {p["id"] for p in admin.get("/api/v1/sla/policies/").json()["results"]}
    assert policies == {world.sla["sla_policy"]["own"]}
    versions = {v["number"] for v in admin.get("/api/v1/policies/versions/").json()["results"]}
    assert world.versions["foreign"] not in versions
    assert world.versions["own"] in versions
