"""Keyset cursor pagination of the tickets API: every ticket exactly once, forwards and back,
for every allowed ordering, also when more than 1000 tickets share a sort value (where
DRF's offset-based cursor loops); a page costs the same number of queries at any size."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.tickets import keyset, services
from apps.tickets.filters import ORDERINGS
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


def expected_order(ordering: str) -> list[int]:
    """The order the database gives for the ordering, with the number as tie-breaker."""
    return list(Ticket.objects.order_by(*ORDERINGS[ordering]).values_list("number", flat=True))


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
        client.get("/api/v1/tickets/", {"cursor": keyset.Cursor("P9", 1, False).encode(
            keyset.SortKey.parse(ORDERINGS["priority"], tie="number")), "ordering": "priority"}),
    ):
        assert response.status_code == 400, response.content
        assert response["Content-Type"].startswith("application/problem+json")
        assert "cursor" in response.json()["errors"]


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


def test_sort_key_parse():
    key = keyset.SortKey.parse(("-priority", "-number"), tie="number")
    assert (key.field, key.descending, key.tie_descending) == ("priority", True, True)
    assert key.order_by(reverse=True) == ["priority", "number"]
    assert keyset.SortKey.parse(("-number",), tie="number").field is None
    with pytest.raises(ValueError):
        keyset.SortKey.parse(("priority",), tie="number")
