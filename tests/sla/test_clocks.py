"""Clocks: start, pause and resume (exact to the second), stop, reopen, cancel, re-target
from the original start, policy matching. Through the hooks the tickets services call."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.sla import services
from apps.sla.choices import ClockState

from .factories import clocks, make_calendar, make_policy, make_ticket, set_status

pytestmark = pytest.mark.django_db
WARSAW = ZoneInfo("Europe/Warsaw")
M = timedelta(minutes=1)


def test_a_new_ticket_gets_one_clock_per_metric_with_marks_at_each_threshold(standard_policy, requester_user):
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    ticket = make_ticket(requester=requester_user, created_at=start, priority="P2")
    services.sla_on_ticket_created(ticket)
    found = clocks(ticket)
    assert set(found) == {"first_response", "resolution"}
    first, resolution = found["first_response"], found["resolution"]
    assert first.state == ClockState.RUNNING
    assert first.policy == standard_policy
    assert first.due_at == start + 60 * M
    assert first.thresholds == [50, 75, 90, 100]
    assert first.marks == [start + 30 * M, start + 45 * M, start + 54 * M, start + 60 * M]
    assert first.risk_at == start + 45 * M
    assert first.next_mark_at == start + 30 * M
    assert resolution.due_at == start + 240 * M


def test_pause_and_resume_are_exact_to_the_second(standard_policy, requester_user):
    start = datetime(2030, 1, 7, 10, 0, 0, tzinfo=UTC)
    ticket = make_ticket(requester=requester_user, created_at=start)
    services.sla_on_ticket_created(ticket)
    paused = start + timedelta(minutes=10, seconds=7)
    resumed = start + timedelta(minutes=25, seconds=13)
    set_status(ticket, "pending", paused)
    clock = clocks(ticket)["resolution"]
    assert clock.state == ClockState.PAUSED
    assert clock.paused_at == paused
    assert clock.due_at is None  # out of reach while paused
    assert clock.marks == [None, None, None, None]  # nothing was crossed before the pause
    set_status(ticket, "open", resumed)
    clock = clocks(ticket)["resolution"]
    gap = resumed - paused
    assert gap == timedelta(minutes=15, seconds=6)
    assert clock.state == ClockState.RUNNING
    assert clock.paused_at is None
    assert clock.due_at == start + 240 * M + gap
    assert clock.paused_seconds == 906
    assert clock.pauses == [[paused.isoformat(), resumed.isoformat()]]
    # Thresholds crossed before the pause keep their instant; later ones move by the gap.
    early = make_ticket(requester=requester_user, created_at=start)
    services.sla_on_ticket_created(early)
    set_status(early, "pending", start + 40 * M)  # after the 50 % (30 min) of first response
    set_status(early, "open", start + 50 * M)
    first = clocks(early)["first_response"]
    assert first.marks == [start + 30 * M, start + 55 * M, start + 64 * M, start + 70 * M]


def test_a_pause_over_a_weekend_only_costs_business_time(office, requester_user, admin_user):
    make_policy(calendar=office, actor=admin_user, targets={"P3": {"resolution": 8 * 60}})
    start = datetime(2030, 6, 7, 9, 0, 0, tzinfo=WARSAW)  # a Friday
    ticket = make_ticket(requester=requester_user, created_at=start)
    services.sla_on_ticket_created(ticket)
    assert clocks(ticket)["resolution"].due_at == datetime(2030, 6, 7, 17, tzinfo=WARSAW)
    set_status(ticket, "pending", datetime(2030, 6, 7, 16, 0, 30, tzinfo=WARSAW))
    set_status(ticket, "open", datetime(2030, 6, 10, 10, 0, 0, tzinfo=WARSAW))  # Monday
    clock = clocks(ticket)["resolution"]
    # 7 h on Friday, paused, 1 h left from Monday 10:00 (plus the 30 s before the pause).
    assert clock.due_at == datetime(2030, 6, 10, 10, 59, 30, tzinfo=WARSAW)
    assert clock.paused_seconds == 3600 - 30 + 3600


def test_first_response_stops_the_first_clock_and_resolution_the_other(standard_policy, requester_user):
    start = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    ticket = make_ticket(requester=requester_user, created_at=start)
    services.sla_on_ticket_created(ticket)
    ticket.first_response_at = start + 20 * M
    ticket.save()
    services.sla_on_first_response(ticket)
    first = clocks(ticket)["first_response"]
    assert first.state == ClockState.MET
    assert first.met_at == start + 20 * M
    assert first.marks == [None, None, None, None]  # nothing left to emit after it stopped
    set_status(ticket, "resolved", start + 100 * M)
    resolution = clocks(ticket)["resolution"]
    assert resolution.state == ClockState.MET
    assert resolution.met_at == start + 100 * M
    assert resolution.marks == [None, None, None, None]  # 50 % would have been at 120 min


def test_a_late_stop_is_a_breach_stamped_at_the_due_time(standard_policy, requester_user):
    start = timezone.now().replace(microsecond=0) - timedelta(hours=5)
    ticket = make_ticket(requester=requester_user, created_at=start)
    services.sla_on_ticket_created(ticket)
    set_status(ticket, "resolved", start + 250 * M)
    found = clocks(ticket)
    assert found["resolution"].state == ClockState.BREACHED
    assert found["resolution"].breached_at == start + 240 * M
    # Resolving answers the requester too: a missing first response stops there (late).
    assert found["first_response"].state == ClockState.BREACHED
    assert found["first_response"].stopped_at == start + 250 * M


def test_reopening_resumes_the_resolution_clock_without_the_resolved_time(standard_policy, requester_user):
    start = datetime(2030, 1, 7, 10, tzinfo=UTC)
    ticket = make_ticket(requester=requester_user, created_at=start)
    services.sla_on_ticket_created(ticket)
    set_status(ticket, "resolved", start + 100 * M)
    set_status(ticket, "open", start + 160 * M)
    clock = clocks(ticket)["resolution"]
    assert clock.state == ClockState.RUNNING
    assert clock.stopped_at is None
    assert clock.met_at is None
    assert clock.due_at == start + 300 * M
    # The resolution answered the requester (late, at 100 min): that stays so.
    first = clocks(ticket)["first_response"]
    assert first.stopped_at == start + 100 * M
    assert first.state == ClockState.BREACHED


def test_cancelling_cancels_the_running_clocks(standard_policy, requester_user):
    start = timezone.now() - timedelta(minutes=10)
    ticket = make_ticket(requester=requester_user, created_at=start)
    services.sla_on_ticket_created(ticket)
    set_status(ticket, "cancelled", start + 5 * M)
    for clock in clocks(ticket).values():
        assert clock.state == ClockState.CANCELLED
        assert clock.next_mark_at is None
        assert clock.marks == []


def test_hooks_are_idempotent(standard_policy, requester_user):
    start = datetime(2030, 1, 7, 10, tzinfo=UTC)
    ticket = make_ticket(requester=requester_user, created_at=start)
    services.sla_on_ticket_created(ticket)
    services.sla_on_ticket_created(ticket)
    set_status(ticket, "pending", start + 10 * M)
    services.sla_on_status_changed(ticket, "open", "pending", at=start + 12 * M)  # a second call: no new pause
    set_status(ticket, "open", start + 20 * M)
    services.sla_on_status_changed(ticket, "pending", "open", at=start + 30 * M)
    clock = clocks(ticket)["resolution"]
    assert clock.pauses == [[(start + 10 * M).isoformat(), (start + 20 * M).isoformat()]]
    assert clock.due_at == start + 250 * M


def test_a_priority_change_retargets_from_the_original_start(always_open, requester_user, admin_user):
    make_policy(
        calendar=always_open,
        actor=admin_user,
        targets={
            "P1": {"first_response": 15, "resolution": 60},
            "P3": {"first_response": 120, "resolution": 480},
        },
    )
    start = datetime(2030, 1, 7, 10, tzinfo=UTC)
    ticket = make_ticket(requester=requester_user, created_at=start, priority="P3")
    services.sla_on_ticket_created(ticket)
    set_status(ticket, "pending", start + 10 * M)
    set_status(ticket, "open", start + 30 * M)
    assert clocks(ticket)["resolution"].due_at == start + 500 * M
    ticket.priority = "P1"
    ticket.updated_at = start + 40 * M
    ticket.save()
    services.sla_on_ticket_changed(ticket, ["impact", "urgency", "priority"])
    clock = clocks(ticket)["resolution"]
    assert clock.target_seconds == 3600
    assert clock.due_at == start + 80 * M  # 60 min from the ORIGINAL start, plus the 20 min pause
    assert clock.started_at == start
    # Unrelated fields do nothing.
    assert services.sla_on_ticket_changed(ticket, ["title"]) == []


def test_policies_match_by_priority_category_subtree_and_team_in_order(always_open, requester_user, admin_user):
    from apps.accounts.models import Team
    from apps.tickets.models import Category

    network = Category.objects.create(name="Network")
    wifi = Category.objects.create(name="Wi-Fi", parent=network)
    desk = Team.objects.get(name="Desk")
    vip = make_policy(
        calendar=always_open, actor=admin_user, name="Network", order=10, categories=[network], targets={"P2": {"resolution": 30}}
    )
    by_team = make_policy(
        calendar=always_open, actor=admin_user, name="Desk", order=20, teams=[desk], targets={"P2": {"resolution": 90}}
    )
    fallback = make_policy(calendar=always_open, actor=admin_user, name="Fallback", order=30)
    cases = [
        ({"category": wifi, "priority": "P2"}, vip),  # below a matched category
        ({"category": wifi, "priority": "P3"}, fallback),  # no P3 target in "Network"
        ({"team": desk, "priority": "P2"}, by_team),
        ({"priority": "P2"}, fallback),
    ]
    for fields, policy in cases:
        ticket = make_ticket(requester=requester_user, **fields)
        services.sla_on_ticket_created(ticket)
        assert clocks(ticket)["resolution"].policy == policy, fields


def test_a_ticket_no_policy_matches_gets_clocks_from_its_start_when_one_matches_later(always_open, requester_user, admin_user):
    from apps.tickets.models import Category

    hardware = Category.objects.create(name="Hardware")
    make_policy(calendar=always_open, actor=admin_user, categories=[hardware], targets={"P3": {"resolution": 120}})
    start = datetime(2030, 1, 7, 10, tzinfo=UTC)
    ticket = make_ticket(requester=requester_user, created_at=start)
    services.sla_on_ticket_created(ticket)
    assert clocks(ticket) == {}
    ticket.category = hardware
    ticket.save()
    services.sla_on_ticket_changed(ticket, ["category"], at=start + 30 * M)
    clock = clocks(ticket)["resolution"]
    assert clock.started_at == start
    assert clock.due_at == start + 120 * M
    # Moving it out again sets the clock aside; back in, it resumes from the start.
    ticket.category = None
    ticket.save()
    services.sla_on_ticket_changed(ticket, ["category"], at=start + 40 * M)
    assert clocks(ticket)["resolution"].state == ClockState.CANCELLED
    ticket.category = hardware
    ticket.save()
    services.sla_on_ticket_changed(ticket, ["category"], at=start + 50 * M)
    assert clocks(ticket)["resolution"].due_at == start + 120 * M


def test_a_finished_clock_keeps_its_outcome(standard_policy, requester_user):
    start = timezone.now() - timedelta(hours=1)
    ticket = make_ticket(requester=requester_user, created_at=start)
    services.sla_on_ticket_created(ticket)
    set_status(ticket, "resolved", start + 10 * M)
    ticket.priority = "P1"
    ticket.save()
    services.sla_on_ticket_changed(ticket, ["priority"])
    assert clocks(ticket)["resolution"].met_at == start + 10 * M


def test_business_hours_clock_runs_across_a_holiday_and_dst(requester_user, admin_user):
    office = make_calendar(
        actor=admin_user,
        name="NY office",
        timezone_name="America/New_York",
        hours=(time(9), time(17)),
        country="US",
        subdivision="NY",
    )
    make_policy(calendar=office, actor=admin_user, targets={"P3": {"resolution": 16 * 60}})
    ny = ZoneInfo("America/New_York")
    start = datetime(2030, 3, 8, 13, tzinfo=ny)  # Friday; DST starts Sunday 10 March 2030
    ticket = make_ticket(requester=requester_user, created_at=start)
    services.sla_on_ticket_created(ticket)
    # 4 h on Friday, 8 h on Monday (EDT), 4 h on Tuesday.
    assert clocks(ticket)["resolution"].due_at == datetime(2030, 3, 12, 13, tzinfo=ny)
