"""Keyset cursor pagination of the tickets API: every ticket exactly once, forwards and back,
for every allowed ordering, also when more than 1000 tickets share a sort value (where
DRF's offset-based cursor loops); status in workflow order; a page costs the same number of
queries at any size; a bad or tampered cursor is a 400 problem."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core import keyset
from apps.tickets import services, workflow
from apps.tickets.keyset import ORDERINGS
from apps.tickets.models import Ticket, TicketCounter


def walk(client, ordering: str, size: int, **params) -> tuple[list[int], list[int]]:
    """(numbers walking `next` from the first page, numbers walking `previous` back from the last)."""
    forward: list[list[int]] = []
    url: str | None = "/api/v1/tickets/"
    query = {"ordering": ordering, "page_size": size, **params}
    last = None
    while url:
        response = client.get(url, query if not forward else None)
        assert response.status_code == 200, response.content
        last = response.json()
        forward.append([t["number"] for t in last["results"]])
        assert len(forward) < 5000, "the next links loop"
        url = last["next"]
    backward: list[list[int]] = [forward[-1]]
    url = last["previous"]
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        page = response.json()
        backward.append([t["number"] for t in page["results"]])
        assert len(backward) < 5000, "the previous links loop"
        url = page["previous"]
    # Pages read back are the same pages as read forward.
    assert list(reversed(backward)) == forward, ordering
    return [n for p in forward for n in p], [n for p in reversed(backward) for n in p]


# Columns with a fixed order of values: status in workflow order, priority P1..P4.
RANKS = {"status": list(workflow.STATUSES), "priority": ["P1", "P2", "P3", "P4"]}


def expected_order(ordering: str) -> list[int]:
    """The order an `ordering` promises, computed here: the column in its direction, then the
    number (in the column's direction; newest first within a status or a priority)."""
    name, descending = ordering.lstrip("-"), ordering.startswith("-")
    rows = list(Ticket.objects.values("number", "status", "priority", "created_at", "updated_at"))
    rows.sort(key=lambda row: row["number"], reverse=True if name in RANKS else descending)
    if name != "number":
        rank = RANKS.get(name)
        rows.sort(key=(lambda row: rank.index(row[name])) if rank else (lambda row: row[name]), reverse=descending)
    return [row["number"] for row in rows]


def test_every_ordering_walks_every_ticket_once_forwards_and_back(make_ticket, api_as, agent_user):
    made = []
    for i in range(9):
        ticket = make_ticket(title=f"T{i}", impact=1 + i % 3, urgency=1 + (i // 3) % 3)
        made.append(ticket.number)
        if i % 4 == 0:
            services.ticket_transition(actor=agent_user, ticket=ticket, to="pending")
    client = api_as(agent_user)
    for ordering in ORDERINGS:
        for size in (2, 100):
            forward, backward = walk(client, ordering, size)
            assert forward == expected_order(ordering), (ordering, size)
            assert backward == forward
            assert sorted(forward) == sorted(made)


def test_filters_apply_to_every_page(make_ticket, api_as, agent_user):
    for i in range(7):
        make_ticket(title=f"printer {i}" if i % 2 else f"laptop {i}", impact=1 + i % 3)
    client = api_as(agent_user)
    for ordering in ("priority", "-status", "created_at", "-number"):
        forward, _ = walk(client, ordering, 2, q="printer")
        assert len(forward) == 3
        assert set(forward) == set(
            Ticket.objects.filter(title__startswith="printer").values_list("number", flat=True)
        )


def test_grouped_pages_carry_every_field(make_ticket, api_as, agent_user, admin_user):
    """A page read by UNION ALL (status, priority) has the related objects, tags and SLA of the detail."""
    services.tag_create(actor=admin_user, name="vip")
    desk = agent_user.teams.get(name="Desk")
    for i in range(4):
        ticket = make_ticket(title=f"T{i}", tags=["vip"] if i % 2 else [], impact=1 + i % 3)
        services.ticket_assign(actor=agent_user, ticket=ticket, team=desk, assignee=agent_user)
    client = api_as(agent_user)
    for ordering in ("priority", "-status"):
        listed = client.get("/api/v1/tickets/", {"ordering": ordering, "page_size": 3}).json()["results"]
        assert len(listed) == 3
        for item in listed:
            assert item == client.get(f"/api/v1/tickets/{item['number']}/").json()


def _bulk_tickets(requester, count: int, *, start: int) -> list[int]:
    """`count` tickets sharing priority, status, created_at and updated_at (test data only)."""
    same_time = timezone.now() - timedelta(days=1)
    rows = [
        Ticket(number=start + i, title=f"Bulk {i}", requester=requester, priority="P3", status="new",
               created_at=same_time, updated_at=same_time)
        for i in range(count)
    ]
    Ticket.objects.bulk_create(rows, batch_size=500)
    TicketCounter.objects.update(last_number=start + count)
    return [row.number for row in rows]


@pytest.mark.slow
def test_more_than_1000_equal_sort_values(make_ticket, api_as, agent_user, requester_user):
    others = [make_ticket(title=f"Odd {i}", impact=1, urgency=i + 1).number for i in range(3)]
    services.ticket_transition(actor=agent_user, ticket=Ticket.objects.get(number=others[0]), to="pending")
    bulk = _bulk_tickets(requester_user, 1040, start=others[-1] + 1)
    everyone = sorted(others + bulk)
    client = api_as(agent_user)
    for ordering in ORDERINGS:
        forward, backward = walk(client, ordering, 100)
        assert len(forward) == len(everyone), ordering
        assert sorted(forward) == everyone, ordering
        assert forward == expected_order(ordering), ordering


@pytest.mark.parametrize("ordering", ["-number", "priority", "-status", "-updated_at"])
def test_query_count_does_not_grow_with_page_size_on_any_page(make_ticket, api_as, agent_user, ordering):
    for i in range(24):
        make_ticket(title=f"Ticket {i}", impact=1 + i % 3)
    client = api_as(agent_user)
    counts = {}
    for size in (2, 10):
        first = client.get("/api/v1/tickets/", {"ordering": ordering, "page_size": size}).json()
        with CaptureQueriesContext(connection) as queries:
            second = client.get(first["next"])
        assert second.status_code == 200
        assert len(second.json()["results"]) == size
        counts[size] = len(queries)
    assert counts[2] == counts[10], counts


def test_bad_cursors_are_400_problems(make_ticket, api_as, agent_user):
    for i in range(3):
        make_ticket(title=f"T{i}")
    client = api_as(agent_user)
    page = client.get("/api/v1/tickets/", {"ordering": "priority", "page_size": 1}).json()
    cursor = page["next"].split("cursor=")[1].split("&")[0]
    foreign_ordering = client.get("/api/v1/tickets/", {"ordering": "created_at", "cursor": cursor, "page_size": 1})
    for response in (
        foreign_ordering,
        client.get("/api/v1/tickets/", {"cursor": "not-a-cursor"}),
        client.get("/api/v1/tickets/", {"cursor": "x" * 2000}),
        client.get("/api/v1/tickets/", {"cursor": keyset.Cursor("P9", 1, False).encode(ORDERINGS["priority"]),
                                        "ordering": "priority"}),
    ):
        assert response.status_code == 400, response.content
        assert response["Content-Type"].startswith("application/problem+json")
        assert "cursor" in response.json()["errors"]


def test_tampered_cursors_are_400_problems(make_ticket, api_as, agent_user):
    """A cursor is signed: changing its position, its ordering or its signature is refused,
    never read as another page."""
    import base64
    import json

    for i in range(3):
        make_ticket(title=f"T{i}")
    client = api_as(agent_user)
    page = client.get("/api/v1/tickets/", {"ordering": "status", "page_size": 1}).json()
    token = page["next"].split("cursor=")[1].split("&")[0].replace("%3A", ":")
    assert client.get("/api/v1/tickets/", {"ordering": "status", "page_size": 1, "cursor": token}).status_code == 200
    payload, signature = token.split(":", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["t"] = 1  # another position, same signature
    forged = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    for bad in (f"{forged}:{signature}", f"{payload}:{flipped}", payload, f"{payload}:"):
        response = client.get("/api/v1/tickets/", {"ordering": "status", "page_size": 1, "cursor": bad})
        assert response.status_code == 400, (bad, response.content)
        assert response["Content-Type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == 400
        assert problem["errors"]["cursor"] == ["This cursor is not valid for this list; start again without it."]


@pytest.mark.parametrize("ordering", ["status", "-status"])
def test_status_sorts_in_workflow_order_across_pages(make_ticket, api_as, agent_user, ordering):
    made = []
    for i, status in enumerate(["cancelled", "closed", "new", "open", "pending", "resolved", "new", "open", "pending"]):
        ticket = make_ticket(title=f"S{i}")
        made.append(ticket.number)
        for step in {"open": ["open"], "pending": ["pending"], "resolved": ["resolved"],
                     "closed": ["resolved", "closed"], "cancelled": ["cancelled"]}.get(status, []):
            extra = {"resolution_code": "fixed", "resolution_note": "done"} if step == "resolved" else {}
            services.ticket_transition(actor=agent_user, ticket=ticket, to=step, reason="test", **extra)
    client = api_as(agent_user)
    forward, backward = walk(client, ordering, 2)
    assert sorted(forward) == sorted(made)
    assert len(forward) == len(set(forward)) == len(made)  # every ticket exactly once
    assert backward == forward
    statuses = dict(Ticket.objects.values_list("number", "status"))
    listed = [statuses[n] for n in forward]
    expected = list(workflow.STATUSES)  # new, open, pending, resolved, closed, cancelled
    ranks = [expected.index(s) for s in listed]
    assert ranks == sorted(ranks, reverse=ordering.startswith("-"))
    assert listed[0] == ("cancelled" if ordering.startswith("-") else "new")
    for a, b in zip(forward, forward[1:], strict=False):
        if statuses[a] == statuses[b]:
            assert a > b  # newest first within a status, both directions


def test_other_lists_page_by_keyset(ticket, api_as, agent_user, admin_user, requester_user):
    for i in range(5):
        services.comment_add(actor=agent_user, ticket=ticket, body=f"c{i}", internal=i == 2)
    for name in ("B", "a", "C", "b2"):
        services.category_create(actor=admin_user, name=name)
    for client, expected in ((api_as(agent_user), 5), (api_as(requester_user), 4)):
        seen, url = [], f"/api/v1/tickets/{ticket.number}/comments/?page_size=2"
        while url:
            page = client.get(url).json()
            seen += [c["body"] for c in page["results"]]
            url = page["next"]
        assert len(seen) == expected == len(set(seen))
    names, url = [], "/api/v1/categories/?page_size=1"
    while url:
        page = api_as(agent_user).get(url).json()
        names += [c["name"] for c in page["results"]]
        url = page["next"]
    from apps.tickets.models import Category

    assert names == list(Category.objects.order_by("name", "pk").values_list("name", flat=True))


def test_ordering_parse():
    key = keyset.Ordering.parse(("-priority", "-number"), tie="number", model=Ticket)
    assert (key.column.name, key.descending, key.tie_descending) == ("priority", True, True)
    assert key.label == "-priority,-number"
    assert key.order_by() == ["-priority", "-number"]
    assert keyset.Ordering.parse(("-number",), tie="number", model=Ticket).column is None
    with pytest.raises(ValueError, match="keyset ordering"):
        keyset.Ordering.parse(("priority",), tie="number", model=Ticket)


def test_a_list_read_whole_orders_status_in_workflow_order_too(make_ticket, agent_user):
    """The selector (FilterSet `ordering`) sorts a list read without the paginator alike."""
    from apps.tickets import selectors

    new, pending, cancelled = (make_ticket(title=f"W{i}") for i in range(3))
    services.ticket_transition(actor=agent_user, ticket=pending, to="pending")
    services.ticket_transition(actor=agent_user, ticket=cancelled, to="cancelled", reason="test")
    for ordering, expected in (("status", [new, pending, cancelled]), ("-status", [cancelled, pending, new])):
        listed = selectors.ticket_list(actor=agent_user, filters={"ordering": ordering})
        assert [t.number for t in listed] == [t.number for t in expected], ordering
