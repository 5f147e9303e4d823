"""SLA warnings and breaches reach people through the notifications app (the SLA app keeps
only its events): warnings to the assignee, a breach to the assignee and the team lead, a
policy's notify step to the person it names; once per threshold; after an outage one
notification about the worst; nothing about a clock that stopped before it was handled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from apps.accounts.models import Team
from apps.notifications.models import Notification
from apps.notifications.services.preferences import rule_set
from apps.sla import services
from tests.sla.factories import make_calendar, make_policy, make_ticket, set_status

M = timedelta(minutes=1)
T0 = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
TARGETS = {"P3": {"resolution": 100}}  # one clock: warnings at 50, 75, 90 min, breach at 100 min


@pytest.fixture
def always(tenant, admin_user):
    return make_calendar(name="Always", actor=admin_user)


def _sweep(minutes: int, relay) -> None:
    services.sla_sweep(now=T0 + minutes * M, enqueue=False)
    services.sla_events_process()
    relay()


def _told() -> list[tuple[str, str, int]]:
    return sorted(
        (n.recipient.email, n.kind, n.context["threshold"])
        for n in Notification.objects.filter(kind__in=["sla_warning", "sla_breached"]).select_related("recipient")
    )


def test_each_warning_then_the_breach_once_to_the_assignee(always, admin_user, agent_user, agent2_user, requester_user,
                                                          relay, due_now):
    make_policy(calendar=always, actor=admin_user, targets=TARGETS)
    ticket = make_ticket(requester=requester_user, created_at=T0, assignee=agent2_user, team=Team.objects.get(name="Ops"))
    services.sla_on_ticket_created(ticket)
    for minutes in (55, 80, 95, 120):  # 50 %, 75 %, 90 %, breach: one sweep each
        _sweep(minutes, relay)
    assert _told() == [
        ("agent2@alpha.test", "sla_breached", 100),
        ("agent2@alpha.test", "sla_warning", 50),
        ("agent2@alpha.test", "sla_warning", 75),
        ("agent2@alpha.test", "sla_warning", 90),
    ]
    _sweep(500, relay)  # sweeping and processing again tells nobody again
    assert len(_told()) == 4
    due_now()
    relay()
    assert sorted(m.subject for m in mail.outbox if m.to == ["agent2@alpha.test"])[0].startswith(f"[#{ticket.number}]")


def test_a_breach_is_told_to_the_assignee_and_the_team_lead(always, admin_user, agent_user, agent2_user,
                                                           requester_user, relay):
    desk = Team.objects.get(name="Desk")
    assert desk.lead == agent_user
    make_policy(calendar=always, actor=admin_user, targets=TARGETS)
    ticket = make_ticket(requester=requester_user, created_at=T0, team=desk, assignee=agent2_user)
    services.sla_on_ticket_created(ticket)
    _sweep(120, relay)  # after an outage: the warnings and the breach at once
    assert _told() == [("agent2@alpha.test", "sla_breached", 100), ("agent@alpha.test", "sla_breached", 100)]


def test_an_unassigned_ticket_tells_its_team(always, admin_user, agent_user, agent2_user, requester_user, relay):
    from apps.accounts.services import team_add_member

    desk = Team.objects.get(name="Desk")
    team_add_member(team=desk, user=agent2_user, actor=None)
    make_policy(calendar=always, actor=admin_user, targets=TARGETS)
    ticket = make_ticket(requester=requester_user, created_at=T0, team=desk)
    services.sla_on_ticket_created(ticket)
    _sweep(60, relay)
    # Nobody is assigned: the warning goes to the team's members (the lead among them).
    assert _told() == [("agent2@alpha.test", "sla_warning", 50), ("agent@alpha.test", "sla_warning", 50)]


def test_a_notify_step_tells_the_person_it_names_even_when_the_rule_is_off(always, admin_user, agent_user,
                                                                        agent2_user, requester_user, relay):
    rule_set(actor=admin_user, kind="sla_warning", recipients=["assignee"], enabled=False)
    make_policy(calendar=always, actor=admin_user, targets=TARGETS,
                escalations=[{"at_percent": 50, "action": "notify_team_lead"}])
    ticket = make_ticket(requester=requester_user, created_at=T0, team=Team.objects.get(name="Desk"),
                         assignee=agent2_user)
    services.sla_on_ticket_created(ticket)
    _sweep(60, relay)
    assert _told() == [("agent@alpha.test", "sla_warning", 50)]  # Desk's lead, named by the step


def test_a_clock_that_stopped_before_it_was_handled_bothers_nobody(always, admin_user, agent_user, requester_user,
                                                                   relay):
    make_policy(calendar=always, actor=admin_user, targets=TARGETS)
    ticket = make_ticket(requester=requester_user, created_at=T0, assignee=agent_user)
    services.sla_on_ticket_created(ticket)
    services.sla_sweep(now=T0 + 120 * M, enqueue=False)
    set_status(ticket, "resolved", T0 + 121 * M)
    services.sla_events_process()
    relay()
    assert _told() == []


def test_requesters_never_hear_of_sla(always, admin_user, agent_user, requester_user, relay):
    rule_set(actor=admin_user, kind="sla_breached", recipients=["requester", "assignee"], enabled=True)
    make_policy(calendar=always, actor=admin_user, targets=TARGETS)
    ticket = make_ticket(requester=requester_user, created_at=T0, assignee=agent_user)
    services.sla_on_ticket_created(ticket)
    _sweep(120, relay)
    assert _told() == [("agent@alpha.test", "sla_breached", 100)]
