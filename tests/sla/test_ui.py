"""What the agent UI and the tickets API get from the SLA app: badges (template tags),
the ticket serializer, the dashboard widget's numbers, the what-if simulator, and the
notifications (the notifications app; tests/notifications/test_sla.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.sla import selectors, services
from apps.sla.api.serializers import TicketSlaSerializer
from apps.sla.choices import Badge

from .factories import make_policy, make_ticket, set_status

pytestmark = pytest.mark.django_db
M = timedelta(minutes=1)


def _ticket(requester, minutes_ago: float, **fields):
    ticket = make_ticket(requester=requester, created_at=timezone.now() - minutes_ago * M, **fields)
    services.sla_on_ticket_created(ticket)
    return ticket


def _render(source: str, **context) -> str:
    return Template("{% load sla %}" + source).render(Context(context)).strip()


def test_badges_follow_the_clock(standard_policy, requester_user):
    fresh = _ticket(requester_user, 5)  # first response 60 min: on track
    late_ish = _ticket(requester_user, 50)  # 83 % of the first response: at risk (from 75 %)
    overdue = _ticket(requester_user, 70)
    paused = _ticket(requester_user, 10)
    set_status(paused, "pending", timezone.now() - 5 * M)
    none = make_ticket(requester=requester_user, priority="P1", status="resolved")
    expected = {fresh: "on_track", late_ish: "at_risk", overdue: "breached", paused: "paused", none: "none"}
    for ticket, state in expected.items():
        assert _render("{{ t|sla_state }}", t=ticket) == state
        html = _render("{% sla_badge t %}", t=ticket)
        assert f'data-sla-state="{state}"' in html
        assert f"sla-{state.replace('_', '-')}" in html
    assert "left" in _render("{{ t|sla_remaining }}", t=fresh)
    assert _render("{{ t|sla_remaining }}", t=overdue).startswith("overdue by")
    assert _render("{{ t|sla_remaining }}", t=paused).startswith("paused (")
    assert _render('{{ t|sla_state:"resolution" }}', t=overdue) == "on_track"
    assert "Resolution" in _render('{% sla_badge t "resolution" %}', t=overdue)


def test_the_ticket_serializer_nests_both_clocks_with_time_remaining(standard_policy, requester_user):
    from apps.tickets.models import Ticket

    now = timezone.now()
    for minutes in (5, 30, 70):
        _ticket(requester_user, minutes)
    tickets = Ticket.objects.order_by("created_at").prefetch_related(selectors.clock_prefetch())
    with CaptureQueriesContext(connection) as queries:
        data = TicketSlaSerializer(list(tickets), many=True, context={"sla_now": now}).data
    assert len(queries) <= 4  # tickets + clocks (+ calendar rows once), not per ticket
    oldest = data[0]
    assert oldest["badge"] == Badge.BREACHED
    assert (oldest["first_response"]["state"], oldest["first_response"]["badge"]) == ("breached", "breached")
    assert -10 * 60 - 5 <= oldest["first_response"]["remaining_seconds"] <= -10 * 60 + 5
    assert 230 * 60 - 5 <= data[2]["resolution"]["remaining_seconds"] <= 235 * 60 + 5
    assert data[2]["first_response"]["policy"] == "Standard"
    assert set(data[2]["first_response"]) >= {"due_at", "at_risk_at", "met_at", "breached_at", "paused", "started_at"}


def test_the_dashboard_counts_open_tickets_by_state_per_team(standard_policy, requester_user):
    from apps.accounts.models import Team

    desk, ops = Team.objects.get(name="Desk"), Team.objects.get(name="Ops")
    _ticket(requester_user, 5, team=desk)
    _ticket(requester_user, 50, team=desk)
    _ticket(requester_user, 70, team=desk)
    paused = _ticket(requester_user, 10, team=ops)
    set_status(paused, "pending", timezone.now() - 5 * M)
    _ticket(requester_user, 10)  # no team
    done = _ticket(requester_user, 10, team=ops)
    set_status(done, "resolved", timezone.now())  # not open: not counted
    with CaptureQueriesContext(connection) as queries:
        rows = selectors.sla_dashboard_by_team()
    assert len(queries) == 1
    assert rows == [
        {"team_id": desk.pk, "team": "Desk", "on_track": 1, "at_risk": 1, "paused": 0, "breached": 1, "none": 0, "total": 3},
        {"team_id": ops.pk, "team": "Ops", "on_track": 0, "at_risk": 0, "paused": 1, "breached": 0, "none": 0, "total": 1},
        {"team_id": None, "team": "", "on_track": 1, "at_risk": 0, "paused": 0, "breached": 0, "none": 0, "total": 1},
    ]


def test_the_what_if_simulator_compares_a_draft_with_what_happened(always_open, admin_user, requester_user, web_as):
    from apps.sla.simulation import sla_simulate

    make_policy(calendar=always_open, actor=admin_user, targets={"P3": {"first_response": 60, "resolution": 240}})
    draft = make_policy(
        calendar=always_open,
        actor=admin_user,
        name="Tighter",
        active=False,
        targets={"P3": {"resolution": 90}},
        pause_statuses=[],
    )
    start = timezone.now() - 3 * 24 * 60 * M
    fast = make_ticket(requester=requester_user, created_at=start)
    slow = make_ticket(requester=requester_user, created_at=start + M)
    waited = make_ticket(requester=requester_user, created_at=start + 2 * M)
    for ticket in (fast, slow, waited):
        services.sla_on_ticket_created(ticket)
    set_status(fast, "resolved", start + 60 * M)  # met either way
    set_status(slow, "resolved", start + M + 120 * M)  # met at 240, breached at 90
    set_status(waited, "pending", start + 2 * M + 10 * M)
    set_status(waited, "open", start + 2 * M + 110 * M)  # 100 min pending
    set_status(waited, "resolved", start + 2 * M + 150 * M)  # met with the pause; the draft does not pause
    services.sla_sweep(enqueue=False)
    result = sla_simulate(policy=draft, days=7)
    assert (result.tickets, result.matched, result.without_history) == (3, 3, 0)
    resolution = next(m for m in result.metrics if m.metric == "resolution")
    assert dict(resolution.draft) == {"met": 1, "breached": 2}
    assert dict(resolution.actual) == {"met": 3}
    assert resolution.matrix[("met", "breached")] == 2
    assert sorted(f.number for f in result.flips) == sorted([slow.number, waited.number])
    # The admin page.
    client = web_as(admin_user)
    url = reverse("admin:sla_slapolicy_simulate")
    page = client.get(url, {"policy": draft.pk, "days": 7})
    assert page.status_code == 200
    body = page.content.decode()
    assert "2 outcomes would flip between met and breached" in body
    assert 'id="simulation-flips"' in body
    change = client.get(reverse("admin:sla_slapolicy_change", args=[draft.pk]))
    assert f"{url}?policy={draft.pk}" in change.content.decode()
