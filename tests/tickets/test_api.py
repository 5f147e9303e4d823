"""The tickets API end to end: shapes, filters, XSS, internal notes, errors, query counts."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.tickets import services
from tests.tickets.test_workflow import XSS

TICKET_FIELDS = {
    "number", "title", "description", "description_html", "status", "priority", "impact", "urgency", "category",
    "team", "assignee", "requester", "tags", "source", "created_at", "updated_at", "first_response_at",
    "resolved_at", "closed_at",
}
COMMENT_FIELDS = {"id", "body", "body_html", "internal", "author", "created_at"}


def test_create_and_read_a_ticket(api_as, requester_user):
    client = api_as(requester_user)
    response = client.post(
        "/api/v1/tickets/",
        {"title": "  Mouse broken  ", "description": "Left *button*", "impact": 1, "urgency": 2},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= TICKET_FIELDS
    assert body["title"] == "Mouse broken"
    assert body["priority"] == "P2"
    assert body["source"] == "api"
    assert body["description_html"] == "<p>Left <em>button</em></p>"
    assert body["requester"]["email"] == "requester@alpha.test"
    assert body["status"] == "new"
    detail = client.get(f"/api/v1/tickets/{body['number']}/")
    assert detail.status_code == 200
    assert detail.json() == body


def test_validation_errors_are_problem_details(api_as, requester_user):
    client = api_as(requester_user)
    cases = [
        ({"title": "x" * 201}, "title"),
        ({"title": "bell\x07"}, "title"),
        ({"title": "ok", "description": "esc\x1b"}, "description"),
        ({"title": "ok", "description": "x" * (50 * 1024 + 10)}, "description"),
        ({"title": "ok", "impact": 9}, "impact"),
        ({}, "title"),
    ]
    for payload, field in cases:
        response = client.post("/api/v1/tickets/", payload, format="json")
        assert response.status_code == 400, (payload, response.content)
        assert response["Content-Type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == 400
        assert problem["title"]
        assert problem["detail"]
        assert field in problem["errors"], problem


def html_fields(value, path: str = ""):
    """(path, value) of every `*_html` key in a JSON value, however deep."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_html"):
                yield f"{path}.{key}", item
            yield from html_fields(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from html_fields(item, f"{path}[{index}]")


@pytest.mark.parametrize("evil", XSS)
def test_xss_in_titles_comments_and_file_names_comes_back_inert(evil, api_as, requester_user, agent_user, png_file,
                                                                 assert_inert):
    one_line = " ".join(evil.split())
    requester, agent = api_as(requester_user), api_as(agent_user)
    created = requester.post("/api/v1/tickets/", {"title": one_line[:200], "description": evil}, format="json")
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    comments = f"/api/v1/tickets/{number}/comments/"
    for client, body in ((requester, {"body": evil}), (agent, {"body": evil}), (agent, {"body": evil, "internal": True})):
        posted = client.post(comments, body, format="json")
        assert posted.status_code == 201, posted.content
    # A file name cannot hold a path separator; everything else of the string stays.
    file_name = one_line.replace("/", "_").replace("\\", "_")[:180] + ".png"
    attached = requester.post(f"/api/v1/tickets/{number}/attachments/", {"file": png_file(file_name)},
                              format="multipart")
    assert attached.status_code == 201, attached.content
    for client in (requester, agent):
        responses = [
            client.get(f"/api/v1/tickets/{number}/"),
            client.get("/api/v1/tickets/"),
            client.get("/api/v1/tickets/", {"q": "script alert"}),
            client.get(comments),
            client.get(f"/api/v1/tickets/{number}/attachments/"),
        ]
        seen = 0
        for response in responses:
            assert response.status_code == 200, response.content
            for path, html in html_fields(response.json()):
                try:
                    assert_inert(html)
                except AssertionError as exc:
                    raise AssertionError(f"{response.request['PATH_INFO']} {path}: {exc}") from None
                seen += 1
        assert seen >= 3, seen  # the description and at least two comments were looked at
        ticket = responses[0].json()
        assert ticket["title"] == one_line[:200]  # plain text, returned as given
        files = responses[4].json()["results"]
        assert len(files) == 1
        assert files[0]["file_name"].removesuffix(".png") == file_name.removesuffix(".png"), files[0]
        assert "_html" not in "".join(files[0])  # a file name is a plain string, never HTML


def test_tampered_stored_html_is_cleaned_on_output(ticket, api_as, agent_user, assert_inert):
    from apps.tickets.models import Ticket

    Ticket.objects.filter(pk=ticket.pk).update(description_html='<p onclick="x()">a</p><script>bad()</script>')
    html = api_as(agent_user).get(f"/api/v1/tickets/{ticket.number}/").json()["description_html"]
    assert_inert(html)
    assert html == "<p>a</p>"


def walk(value):
    """Every string in a JSON value."""
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
    elif isinstance(value, str):
        yield value


def test_internal_comments_never_reach_the_requester(ticket, api_as, agent_user, requester_user, png_file):
    secret = "SECRET-INTERNAL-NOTE-42"
    note = services.comment_add(actor=agent_user, ticket=ticket, body=f"{secret} do not tell", internal=True)
    services.attachment_add(actor=agent_user, ticket=ticket, fileobj=png_file(f"{secret}.png"),
                            filename=f"{secret}.png", comment=note)
    services.attachment_add(actor=agent_user, ticket=ticket, fileobj=png_file(f"{secret}2.png"),
                            filename=f"{secret}2.png", visibility="internal")
    services.comment_add(actor=agent_user, ticket=ticket, body="Public answer")

    requester = api_as(requester_user)
    responses = [
        requester.get("/api/v1/tickets/"),
        requester.get(f"/api/v1/tickets/{ticket.number}/"),
        requester.get(f"/api/v1/tickets/{ticket.number}/comments/"),
        requester.get(f"/api/v1/tickets/{ticket.number}/attachments/"),
        requester.get("/api/v1/tickets/", {"q": secret}),
        requester.get("/api/v1/tickets/", {"q": "tell"}),
    ]
    for response in responses:
        assert response.status_code == 200
        assert all(secret not in text for text in walk(response.json())), response.json()
    comments = responses[2].json()["results"]
    assert [c["body"] for c in comments] == ["Public answer"]
    assert comments[0]["internal"] is False
    assert responses[3].json()["results"] == []
    assert responses[4].json()["results"] == []
    assert responses[5].json()["results"] == []

    agent = api_as(agent_user)
    comments = agent.get(f"/api/v1/tickets/{ticket.number}/comments/").json()["results"]
    assert [c["internal"] for c in comments] == [True, False]
    assert set(comments[0]) == COMMENT_FIELDS
    assert len(agent.get(f"/api/v1/tickets/{ticket.number}/attachments/").json()["results"]) == 2
    assert agent.get("/api/v1/tickets/", {"q": secret}).json()["results"][0]["number"] == ticket.number


def test_requester_cannot_link_an_internal_attachment(ticket, api_as, agent_user, requester_user, png_file):
    hidden = services.attachment_add(actor=agent_user, ticket=ticket, fileobj=png_file(), filename="x.png",
                                     visibility="internal")
    response = api_as(requester_user).get(f"/api/v1/tickets/{ticket.number}/attachments/{hidden.pk}/download/")
    assert response.status_code == 404


def test_filters_and_ordering(make_ticket, api_as, agent_user, agent2_user, admin_user, requester2_user):
    hw = services.category_create(actor=admin_user, name="Hardware")
    printers = services.category_create(actor=admin_user, name="Printers", parent=hw)
    services.tag_create(actor=admin_user, name="vip")
    desk = agent_user.teams.get(name="Desk")
    a = make_ticket(title="Printer jam", category=printers.pk, tags=["vip"], impact=1, urgency=1)
    b = make_ticket(requester2_user, title="Laptop", category=hw.pk)
    c = make_ticket(title="VPN")
    services.ticket_assign(actor=agent_user, ticket=a, team=desk, assignee=agent_user)
    services.ticket_assign(actor=agent_user, ticket=b, assignee=agent2_user)
    services.ticket_transition(actor=agent_user, ticket=c, to="pending")
    client = api_as(agent_user)

    def numbers(**params):
        response = client.get("/api/v1/tickets/", params)
        assert response.status_code == 200, response.content
        return [t["number"] for t in response.json()["results"]]

    assert numbers() == [c.number, b.number, a.number]
    assert numbers(status=["new", "pending"]) == [c.number, b.number, a.number]
    assert numbers(status="pending") == [c.number]
    assert numbers(priority="P1") == [a.number]
    assert numbers(assignee="me") == [a.number]
    assert numbers(assignee="none") == [c.number]
    assert numbers(assignee=agent2_user.pk) == [b.number]
    assert numbers(team=desk.pk) == [a.number]
    assert numbers(category=hw.pk) == [b.number, a.number]  # includes sub-categories
    assert numbers(category=printers.pk) == [a.number]
    assert numbers(tag="VIP") == [a.number]
    assert numbers(q="printer", status="new", assignee="me", priority="P1") == [a.number]
    assert numbers(ordering="number") == [a.number, b.number, c.number]
    assert numbers(ordering="priority")[0] == a.number
    assert numbers(ordering="status")[0] == c.number or numbers(ordering="status")[-1] == c.number

    for params, field in [({"ordering": "title"}, "ordering"), ({"status": "gone"}, "status"),
                          ({"assignee": "someone"}, "assignee"), ({"q": "a\x00b"}, "q"), ({"team": "1e400"}, "team")]:
        response = client.get("/api/v1/tickets/", params)
        assert response.status_code == 400, (params, response.content)
        assert field in response.json()["errors"]


def test_requester_list_is_scoped(make_ticket, api_as, requester_user, requester2_user):
    mine = make_ticket()
    make_ticket(requester2_user)
    results = api_as(requester_user).get("/api/v1/tickets/").json()["results"]
    assert [t["number"] for t in results] == [mine.number]
    # A requester filter cannot widen the scope.
    assert api_as(requester_user).get("/api/v1/tickets/", {"requester": requester2_user.pk}).json()["results"] == []


def test_cursor_pagination_walks_every_ticket_once(make_ticket, api_as, agent_user):
    made = {make_ticket(title=f"T{i}", impact=1 + i % 3).number for i in range(7)}
    client = api_as(agent_user)
    for ordering in ("-number", "priority", "created_at", "-updated_at", "status"):
        seen: list[int] = []
        url = f"/api/v1/tickets/?page_size=3&ordering={ordering}"
        while url:
            page = client.get(url).json()
            seen += [t["number"] for t in page["results"]]
            url = page["next"]
        assert sorted(seen) == sorted(made), ordering
        assert len(seen) == len(made), ordering


def test_list_query_count_does_not_grow_with_page_size(make_ticket, api_as, agent_user, admin_user,
                                                       django_assert_max_num_queries, settings):
    category = services.category_create(actor=admin_user, name="Hardware")
    services.tag_create(actor=admin_user, name="a")
    services.tag_create(actor=admin_user, name="b")
    desk = agent_user.teams.get(name="Desk")
    for i in range(55):
        ticket = make_ticket(title=f"Ticket {i}", category=category.pk, tags=["a", "b"])
        services.ticket_assign(actor=agent_user, ticket=ticket, team=desk, assignee=agent_user)
    client = api_as(agent_user)
    counts = {}
    # The tenant's statistics decide whether a search ranks a window of its newest matches
    # (apps/tickets/search.py): count both ways.
    settings.WARDEN_TICKETS_SEARCH_RANKED_MAX = 10
    for analyzed in (False, True):
        if analyzed:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE tickets_ticket")
        for size in (5, 50):
            # Host lookup and token with their two search_path SETs (4); the search compiled:
            # words, forms, statistics (1); the relevance page's keys (ranked window and
            # older matches in one UNION ALL), then its rows with tags and highlights (2);
            # the SLA clocks (1).
            with django_assert_max_num_queries(8), CaptureQueriesContext(connection) as queries:
                response = client.get("/api/v1/tickets/", {"page_size": size, "q": "ticket", "status": "new"})
            assert response.status_code == 200
            results = response.json()["results"]
            assert len(results) == size
            assert all(item["search"]["title_html"].startswith("<mark>Ticket</mark> ") for item in results)
            counts[analyzed, size] = len(queries)
        if analyzed:
            assert '"number" > 45' in queries[-3]["sql"]  # the window: the newest ten of 55 matches
    assert len(set(counts.values())) == 1, counts


def test_comment_list_and_detail_query_counts(ticket, api_as, agent_user, requester_user,
                                              django_assert_max_num_queries):
    for i in range(12):
        services.comment_add(actor=agent_user if i % 2 else requester_user, ticket=ticket, body=f"c{i}")
    client = api_as(agent_user)
    with django_assert_max_num_queries(8):  # 4 queries + their search_path SETs
        assert client.get(f"/api/v1/tickets/{ticket.number}/").status_code == 200
    sizes = {}
    for size in (2, 12):
        with CaptureQueriesContext(connection) as queries:
            client.get(f"/api/v1/tickets/{ticket.number}/comments/", {"page_size": size})
        sizes[size] = len(queries)
    assert sizes[2] == sizes[12]


def test_patch_updates_and_assigns(ticket, api_as, agent_user, admin_user):
    services.tag_create(actor=admin_user, name="network")
    desk = agent_user.teams.get(name="Desk")
    response = api_as(agent_user).patch(
        f"/api/v1/tickets/{ticket.number}/",
        {"title": "New title", "impact": 1, "urgency": 1, "tags": ["network"], "team": desk.pk,
         "assignee": agent_user.pk},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "New title"
    assert body["priority"] == "P1"
    assert body["tags"] == ["network"]
    assert body["team"]["name"] == "Desk"
    assert body["assignee"]["id"] == agent_user.pk
    bad = api_as(agent_user).patch(f"/api/v1/tickets/{ticket.number}/", {"assignee": 10**6}, format="json")
    assert bad.status_code == 400
    assert "assignee" in bad.json()["errors"]


def test_transition_endpoint(ticket, api_as, agent_user, requester_user, settings):
    settings.WARDEN_TICKETS_REOPEN_COOLDOWN_SECONDS = 600
    agent = api_as(agent_user)
    url = f"/api/v1/tickets/{ticket.number}/transition/"
    missing = agent.post(url, {"to": "resolved"}, format="json")
    assert missing.status_code == 400
    assert {"resolution_code", "resolution_note"} <= set(missing.json()["errors"])
    done = agent.post(url, {"to": "resolved", "resolution_code": "fixed", "resolution_note": "ok"}, format="json")
    assert done.status_code == 200
    assert done.json()["status"] == "resolved"
    assert done.json()["resolved_at"]
    requester = api_as(requester_user)
    no_reason = requester.post(url, {"to": "open"}, format="json")
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["errors"]
    assert requester.post(url, {"to": "open", "reason": "Still broken"}, format="json").status_code == 200
    agent.post(url, {"to": "resolved", "resolution_code": "fixed", "resolution_note": "ok"}, format="json")
    throttled = requester.post(url, {"to": "open", "reason": "Again"}, format="json")
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 500
    impossible = agent.post(url, {"to": "new"}, format="json")
    assert impossible.status_code == 409


def test_comment_cooldown_answers_429_with_retry_after(ticket, api_as, requester_user, settings):
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 5
    client = api_as(requester_user)
    url = f"/api/v1/tickets/{ticket.number}/comments/"
    assert client.post(url, {"body": "one"}, format="json").status_code == 201
    second = client.post(url, {"body": "two"}, format="json")
    assert second.status_code == 429
    assert 1 <= int(second["Retry-After"]) <= 6
    assert "body" in second.json()["errors"]


def test_categories_and_teams(api_as, admin_user, requester_user):
    admin = api_as(admin_user)
    root = admin.post("/api/v1/categories/", {"name": "Hardware"}, format="json").json()
    child = admin.post("/api/v1/categories/", {"name": "Printers", "parent": root["id"]}, format="json")
    assert child.status_code == 201
    assert child.json()["parent"] == root["id"]
    dup = admin.post("/api/v1/categories/", {"name": "hardware"}, format="json")
    assert dup.status_code == 400
    assert "name" in dup.json()["errors"]
    listed = api_as(requester_user).get("/api/v1/categories/").json()["results"]
    assert [c["name"] for c in listed] == ["Hardware", "Printers"]
    teams = api_as(requester_user).get("/api/v1/teams/").json()["results"]
    assert [t["name"] for t in teams] == ["Desk", "Ops"]


def test_schema_is_valid_openapi_and_lists_every_tickets_route(api_as, agent_user):
    from drf_spectacular.validation import validate_schema

    response = api_as(agent_user).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate_schema(schema)
    for path in ("/api/v1/tickets/", "/api/v1/tickets/{number}/", "/api/v1/tickets/{number}/comments/",
                 "/api/v1/tickets/{number}/attachments/", "/api/v1/tickets/{number}/transition/",
                 "/api/v1/tickets/{number}/attachments/{attachment_id}/download/",
                 "/api/v1/attachments/download/{token}/", "/api/v1/categories/", "/api/v1/teams/"):
        assert path in schema["paths"], path
    params = {p["name"] for p in schema["paths"]["/api/v1/tickets/"]["get"]["parameters"]}
    assert {"status", "priority", "team", "assignee", "category", "tag", "q", "ordering", "cursor"} <= params


@pytest.mark.parametrize("number", [0, 10**12])
def test_unknown_numbers_are_404(api_as, agent_user, number):
    assert api_as(agent_user).get(f"/api/v1/tickets/{number}/").status_code == 404
