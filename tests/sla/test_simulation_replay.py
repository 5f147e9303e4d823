"""One clock rule: the what-if simulator, replaying the policy in force over the tickets'
recorded history, gives exactly the due, met and breach times of the engine's real clocks
(both apply `apps/sla/clockmath.py`). Tickets go through first responses, pauses,
resolutions, reopenings and closures at controlled instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.sla import services
from apps.sla.choices import ClockState
from apps.sla.simulation import _history, replay, sla_simulate

from .factories import clocks, make_calendar, make_policy, make_ticket, set_status

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # a Monday
M = timedelta(minutes=1)
NOW = T0 + 20 * 60 * M

pytestmark = pytest.mark.django_db


def _first_response(ticket, at):
    ticket.first_response_at = at
    if ticket.status == "new":
        ticket.status = "open"
    ticket.updated_at = at
    ticket.save()
    services.sla_on_first_response(ticket, at=at)


@pytest.fixture(params=["24x7", "office hours"])
def policy(request, admin_user):
    if request.param == "24x7":
        calendar = make_calendar(name="Always")
    else:
        from datetime import time

        calendar = make_calendar(name="Office", timezone_name="Europe/Warsaw", always_open=False, hours=(time(9), time(17)))
    return make_policy(
        calendar=calendar,
        targets={"P3": {"first_response": 60, "resolution": 240}},
        pause_statuses=("pending",),
        actor=admin_user,
    )


def _tickets(requester):
    made = {}
    # Answered, then resolved in time.
    t = made["answered"] = make_ticket(requester=requester, created_at=T0, title="answered")
    services.sla_on_ticket_created(t)
    _first_response(t, T0 + 30 * M)
    set_status(t, "resolved", T0 + 180 * M)
    # Waited on the requester for an hour (paused), then resolved late.
    t = made["paused"] = make_ticket(requester=requester, created_at=T0 + 5 * M, title="paused")
    services.sla_on_ticket_created(t)
    _first_response(t, T0 + 15 * M)
    set_status(t, "pending", T0 + 20 * M)
    set_status(t, "open", T0 + 80 * M)
    set_status(t, "resolved", T0 + 400 * M)
    # Resolved, reopened an hour later, resolved again, then closed.
    t = made["reopened"] = make_ticket(requester=requester, created_at=T0 + 10 * M, title="reopened")
    services.sla_on_ticket_created(t)
    set_status(t, "resolved", T0 + 50 * M)  # no reply: the resolution answers too
    set_status(t, "open", T0 + 110 * M)
    set_status(t, "resolved", T0 + 300 * M)
    set_status(t, "closed", T0 + 330 * M)
    # Never answered, still open: both breached by now.
    t = made["ignored"] = make_ticket(requester=requester, created_at=T0 + 15 * M, title="ignored")
    services.sla_on_ticket_created(t)
    # Pending right now (the clock is paused).
    t = made["waiting"] = make_ticket(requester=requester, created_at=NOW - 100 * M, title="waiting")
    services.sla_on_ticket_created(t)
    _first_response(t, NOW - 90 * M)
    set_status(t, "pending", NOW - 80 * M)
    return made


def test_replaying_the_policy_in_force_gives_the_engines_clocks(policy, requester_user):
    from apps.sla import selectors

    tickets = _tickets(requester_user)
    calendar = selectors.calendar_for(policy.calendar)
    seen_states = set()
    for key, ticket in tickets.items():
        ticket.refresh_from_db()
        real = clocks(ticket)
        history = _history(list(real.values()))
        for metric, clock in real.items():
            # The engine computed states at each change; bring the stored clock to NOW like the sweep does.
            if clock.stopped_at is None and clock.due_at is not None and clock.due_at <= NOW:
                expected_state = ClockState.BREACHED
            else:
                expected_state = clock.state
            again = replay(
                ticket, history, metric, target_minutes=policy.target_minutes("P3", metric),
                pause_statuses=policy.pause_statuses, calendar=calendar, thresholds=policy.warning_thresholds, now=NOW,
            )
            assert again.due_at == clock.due_at, (key, metric)
            assert again.stopped_at == clock.stopped_at, (key, metric)
            assert again.state == expected_state, (key, metric)
            assert again.paused_at == clock.paused_at, (key, metric)
            assert again.pauses == clock.pauses, (key, metric)
            seen_states.add(expected_state)
    assert {ClockState.MET, ClockState.BREACHED} <= seen_states  # the cases cover both outcomes


def test_the_simulation_of_the_policy_in_force_flips_nothing(policy, requester_user):
    _tickets(requester_user)
    result = sla_simulate(policy=policy, days=30, now=NOW)
    assert result.matched == 5
    assert result.without_history == 0
    assert result.flip_count == 0
    for metric in result.metrics:
        # Every ticket lands on the diagonal: what happened is what the replay says.
        off_diagonal = {key: n for key, n in metric.matrix.items() if key[0] != key[1]}
        assert off_diagonal == {}, (metric.metric, dict(metric.matrix))
