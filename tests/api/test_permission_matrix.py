"""Role x action x object matrix over EVERY route of the tickets API.

Objects: `own` (the requester's ticket, or for the download route a link issued to the
caller), `other` (another requester's ticket / a link issued to someone else),
`foreign` (tenant beta's). Another tenant's or another requester's object is 404, never
403; an action the role may not take is 403.

A route added to apps/tickets/api/urls.py without a case here fails
`test_every_route_has_matrix_cases`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver

from apps.tickets import services, uploads

ROLES = ("requester", "agent", "admin")
OWNERSHIP = ("own", "other", "foreign")
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


@dataclass
class Case:
    route: str  # URL name in the "tickets" namespace
    method: str
    path: str  # with {number}, {attachment} and {token} placeholders
    expect: dict[str, Any]  # role -> status, or role -> {ownership: status}
    body: dict | None = None
    multipart: bool = False
    objects: tuple[str, ...] = field(default=("-",))


def obj(requester: tuple[int, int, int], agent: tuple[int, int, int], admin: tuple[int, int, int] | None = None):
    admin = admin or agent
    return {
        role: dict(zip(OWNERSHIP, codes, strict=True))
        for role, codes in (("requester", requester), ("agent", agent), ("admin", admin))
    }


def flat(requester: int, agent: int, admin: int | None = None) -> dict[str, int]:
    return {"requester": requester, "agent": agent, "admin": agent if admin is None else admin}


T = "/api/v1/tickets/{number}/"
CASES: dict[str, Case] = {
    "list tickets": Case("ticket-list", "GET", "/api/v1/tickets/", flat(200, 200)),
    "create ticket": Case("ticket-list", "POST", "/api/v1/tickets/", flat(201, 201), body={"title": "New one"}),
    "create ticket for someone else": Case(
        "ticket-list", "POST", "/api/v1/tickets/", flat(403, 201), body={"title": "For you", "requester": "{requester2}"}
    ),
    "view ticket": Case("ticket-detail", "GET", T, obj((200, 404, 404), (200, 200, 404)), objects=OWNERSHIP),
    "edit ticket": Case(
        "ticket-detail", "PATCH", T, obj((403, 404, 404), (200, 200, 404)), body={"title": "Renamed"}, objects=OWNERSHIP
    ),
    "assign ticket": Case(
        "ticket-detail", "PATCH", T, obj((403, 404, 404), (200, 200, 404)), body={"assignee": "{agent}"},
        objects=OWNERSHIP,
    ),
    "cancel ticket": Case(
        "ticket-transition", "POST", T + "transition/", obj((200, 404, 404), (200, 200, 404)),
        body={"to": "cancelled", "reason": "Not needed"}, objects=OWNERSHIP,
    ),
    "resolve ticket": Case(
        "ticket-transition", "POST", T + "transition/", obj((403, 404, 404), (200, 200, 404)),
        body={"to": "resolved", "resolution_code": "fixed", "resolution_note": "Done"}, objects=OWNERSHIP,
    ),
    "list comments": Case("ticket-comments", "GET", T + "comments/", obj((200, 404, 404), (200, 200, 404)),
                          objects=OWNERSHIP),
    "comment": Case("ticket-comments", "POST", T + "comments/", obj((201, 404, 404), (201, 201, 404)),
                    body={"body": "Hello"}, objects=OWNERSHIP),
    "internal note": Case("ticket-comments", "POST", T + "comments/", obj((403, 404, 404), (201, 201, 404)),
                          body={"body": "Between us", "internal": True}, objects=OWNERSHIP),
    "list attachments": Case("ticket-attachments", "GET", T + "attachments/", obj((200, 404, 404), (200, 200, 404)),
                             objects=OWNERSHIP),
    "upload": Case("ticket-attachments", "POST", T + "attachments/", obj((201, 404, 404), (201, 201, 404)),
                   body={"file": "png"}, multipart=True, objects=OWNERSHIP),
    "upload internal": Case("ticket-attachments", "POST", T + "attachments/", obj((403, 404, 404), (201, 201, 404)),
                            body={"file": "png", "visibility": "internal"}, multipart=True, objects=OWNERSHIP),
    "download link": Case(
        "ticket-attachment-link", "GET", T + "attachments/{attachment}/download/",
        obj((200, 404, 404), (200, 200, 404)), objects=OWNERSHIP,
    ),
    "download": Case(
        "attachment-download", "GET", "/api/v1/attachments/download/{token}/",
        obj((200, 404, 404), (200, 404, 404)), objects=OWNERSHIP,
    ),
    "list categories": Case("category-list", "GET", "/api/v1/categories/", flat(200, 200)),
    "create category": Case("category-list", "POST", "/api/v1/categories/", flat(403, 403, 201),
                            body={"name": "Facilities"}),
    "list teams": Case("team-list", "GET", "/api/v1/teams/", flat(200, 200)),
}


def _params():
    for name, case in CASES.items():
        for role in ROLES:
            for ownership in case.objects:
                expected = case.expect[role]
                status = expected[ownership] if isinstance(expected, dict) else expected
                yield pytest.param(name, role, ownership, status, id=f"{name}-{role}-{ownership}")


def _tickets_routes() -> set[tuple[str, str]]:
    """(url name, method) of every route under /api/v1/ in the tickets namespace."""
    found: set[tuple[str, str]] = set()

    def walk(patterns, namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace == "tickets":
                view = pattern.callback.view_class
                for method in view.http_method_names:
                    if method not in ("options", "head") and hasattr(view, method):
                        found.add((pattern.name, method.upper()))

    api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/v1/")
    walk(api.url_patterns)
    return found


def test_every_route_has_matrix_cases(tenant):
    routes = _tickets_routes()
    assert routes, "the tickets API is not mounted under /api/v1/"
    covered = {(case.route, case.method) for case in CASES.values()}
    missing = sorted(routes - covered)
    assert not missing, f"routes without a permission-matrix case: {missing}"
    assert not covered - routes, f"matrix cases for routes that do not exist: {sorted(covered - routes)}"


@dataclass
class World:
    users: dict
    numbers: dict[str, int]
    attachments: dict[str, int]
    tokens: dict[tuple[str, str], str]


@pytest.fixture
def world(tenant, other_tenant, users, requester2_user, make_ticket, png_file):
    from apps.accounts.models import User

    own = make_ticket(title="Own ticket")
    other = make_ticket(requester2_user, title="Other's ticket")
    own_file = services.attachment_add(actor=users["requester"], ticket=own, fileobj=png_file(), filename="own.png")
    other_file = services.attachment_add(actor=requester2_user, ticket=other, fileobj=png_file(), filename="o.png")

    connection.set_tenant(other_tenant)
    try:
        from apps.tickets.models import TicketCounter

        TicketCounter.objects.update(last_number=500_000)
        beta_requester = User.objects.get(email="requester@beta.test")
        foreign = services.ticket_create(actor=beta_requester, title="Beta ticket")
        foreign_file = services.attachment_add(actor=beta_requester, ticket=foreign, fileobj=png_file(), filename="b.png")
        foreign_token = uploads.make_token(attachment_id=foreign_file.pk, user_id=beta_requester.pk, ttl_seconds=300)
    finally:
        connection.set_tenant(tenant)

    tokens = {}
    for role, user in users.items():
        tokens[(role, "own")] = uploads.make_token(attachment_id=own_file.pk, user_id=user.pk, ttl_seconds=300)
        tokens[(role, "other")] = uploads.make_token(
            attachment_id=other_file.pk, user_id=requester2_user.pk, ttl_seconds=300
        )
        tokens[(role, "foreign")] = foreign_token
    return World(
        users={**users, "requester2": requester2_user},
        numbers={"own": own.number, "other": other.number, "foreign": foreign.number},
        attachments={"own": own_file.pk, "other": other_file.pk, "foreign": foreign_file.pk},
        tokens=tokens,
    )


def _fill(value, world: World):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return world.users[value[1:-1]].pk
    return value


@pytest.mark.parametrize(("name", "role", "ownership", "status"), list(_params()))
def test_matrix(name, role, ownership, status, world, api_as, png_file):
    case = CASES[name]
    key = ownership if ownership != "-" else "own"
    path = case.path.format(
        number=world.numbers.get(key), attachment=world.attachments.get(key), token=world.tokens.get((role, key))
    )
    client = api_as(world.users[role])
    body = {k: _fill(v, world) for k, v in (case.body or {}).items()}
    if case.multipart:
        body["file"] = png_file()
        response = client.post(path, body, format="multipart")
    elif case.method == "GET":
        response = client.get(path)
    else:
        response = getattr(client, case.method.lower())(path, body, format="json")
    content = b"" if case.route == "attachment-download" and response.status_code == 200 else response.content
    assert response.status_code == status, (name, role, ownership, content[:500])
    if status >= 400:
        assert response["Content-Type"].startswith("application/problem+json")
        assert response.json()["status"] == status


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.objects == ("-",)][:1] + ["view ticket"])
def test_a_token_of_one_tenant_means_nothing_on_another(name, world, api_as):
    case = CASES[name]
    client = api_as(world.users["admin"], host="beta.localhost")
    response = client.get(case.path.format(number=world.numbers["own"]))
    assert response.status_code == 401
