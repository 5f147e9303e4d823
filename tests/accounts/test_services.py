"""The accounts services the admin (and commands) call: rules, refusals and their events."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection, connections, transaction
from rest_framework.authtoken.models import Token

from apps.accounts import services
from apps.accounts.models import Role, Team, User
from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError
from apps.policies.decisions import PolicyDenied


def last(action: str) -> dict:
    return json.loads(bytes(AuditEvent.objects.filter(action=action).latest("seq").payload))


def count(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


# --- Users -------------------------------------------------------------------------------


def test_user_update_changes_only_what_differs_and_records_it(admin_user, agent_user):
    before = count("user.updated")
    services.user_update(user=agent_user, actor=admin_user, email=agent_user.email, full_name="", language="")
    assert count("user.updated") == before  # nothing differed, nothing recorded
    services.user_update(user=agent_user, actor=admin_user, email=" Agent.New@Alpha.TEST ", full_name=" Ann Agent ")
    agent_user.refresh_from_db()
    assert (agent_user.email, agent_user.full_name) == ("agent.new@alpha.test", "Ann Agent")
    assert last("user.updated") == {"changes": {
        "email": {"from": "agent@alpha.test", "to": "agent.new@alpha.test"},
        "full_name": {"from": "", "to": "Ann Agent"},
    }}


def test_a_new_email_drops_allauths_records_of_the_old_one(admin_user, agent_user):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=agent_user, email="agent@alpha.test", primary=True, verified=True)
    services.user_update(user=agent_user, actor=admin_user, email="moved@alpha.test")
    assert not EmailAddress.objects.filter(email__iexact="agent@alpha.test").exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "AGENT2@alpha.test"}, "email", "already exists"),
        ({"email": "not an address"}, "email", "valid email"),
        ({"language": "xx"}, "language", "Unknown language"),
    ],
)
def test_user_update_refusals_change_nothing(admin_user, agent_user, fields, field, message):
    before = count("user.updated")
    with pytest.raises(ApplicationError, match=message) as caught:
        services.user_update(user=agent_user, actor=admin_user, **fields)
    assert field in caught.value.errors
    assert User.objects.get(pk=agent_user.pk).email == "agent@alpha.test"
    assert count("user.updated") == before


def test_deactivating_deletes_the_token_and_reactivating_does_not_restore_it(admin_user, agent_user):
    services.token_issue(user=agent_user)
    services.user_set_active(user=agent_user, active=False, actor=admin_user)
    assert not User.objects.get(pk=agent_user.pk).is_active
    assert not Token.objects.filter(user=agent_user).exists()
    services.user_set_active(user=agent_user, active=True, actor=admin_user)
    assert User.objects.get(pk=agent_user.pk).is_active
    assert not Token.objects.filter(user=agent_user).exists()
    actions = list(AuditEvent.objects.order_by("-seq").values_list("action", flat=True)[:2])
    assert actions == ["user.reactivated", "user.deactivated"]


def test_the_last_active_admin_keeps_role_and_flag(admin_user, agent_user):
    with pytest.raises(ApplicationError, match="last active admin"):
        services.user_set_role(user=admin_user, role=Role.AGENT, actor=admin_user)
    with pytest.raises(ApplicationError, match="last active admin"):
        services.user_set_active(user=admin_user, active=False, actor=admin_user)
    admin_user.refresh_from_db()
    assert (admin_user.role, admin_user.is_active, admin_user.is_staff) == (Role.ADMIN, True, True)
    # An inactive admin does not count as a second one.
    other = services.user_create(email="dormant@alpha.test", role=Role.ADMIN, actor=admin_user)
    services.user_set_active(user=other, active=False, actor=admin_user)
    with pytest.raises(ApplicationError, match="last active admin"):
        services.user_set_role(user=admin_user, role=Role.AGENT, actor=admin_user)
    services.user_set_active(user=other, active=True, actor=admin_user)
    services.user_set_role(user=admin_user, role=Role.AGENT, actor=other)
    assert User.objects.get(pk=admin_user.pk).role == Role.AGENT


@pytest.mark.parametrize(
    "call",
    [
        lambda actor, target: services.user_create(email="x@alpha.test", role=Role.AGENT, actor=actor),
        lambda actor, target: services.user_update(user=target, full_name="X", actor=actor),
        lambda actor, target: services.user_set_active(user=target, active=False, actor=actor),
        lambda actor, target: services.team_rename(team=Team.objects.get(name="Ops"), name="X", actor=actor),
        lambda actor, target: services.team_delete(team=Team.objects.get(name="Ops"), actor=actor),
    ],
)
def test_agents_may_not_manage_people_or_teams(agent_user, requester_user, call):
    with pytest.raises(PolicyDenied):
        call(agent_user, requester_user)
    assert Team.objects.filter(name="Ops").exists()
    assert User.objects.get(pk=requester_user.pk).is_active


# --- Teams -------------------------------------------------------------------------------


def test_team_rename_rules(admin_user):
    ops = Team.objects.get(name="Ops")
    with pytest.raises(ApplicationError, match="already exists"):
        services.team_rename(team=ops, name="  DESK ", actor=admin_user)
    with pytest.raises(ApplicationError, match="at most 100"):
        services.team_rename(team=ops, name="x" * 101, actor=admin_user)
    with pytest.raises(ApplicationError, match="needs a name"):
        services.team_rename(team=ops, name="   ", actor=admin_user)
    assert Team.objects.get(pk=ops.pk).name == "Ops"
    services.team_rename(team=ops, name=" Operations ", actor=admin_user)
    assert Team.objects.get(pk=ops.pk).name == "Operations"
    assert last("team.renamed") == {"from": "Ops", "to": "Operations"}


def test_setting_the_same_lead_again_records_nothing(admin_user, agent_user):
    desk = Team.objects.get(name="Desk")
    before = count("team.lead_changed")
    services.team_set_lead(team=desk, lead=agent_user, actor=admin_user)
    assert count("team.lead_changed") == before


def test_team_delete_waits_for_open_tickets(admin_user, agent_user, requester_user):
    from apps.tickets.services import ticket_create, ticket_transition

    desk = Team.objects.get(name="Desk")
    ticket = ticket_create(actor=agent_user, requester=requester_user, title="In the queue", team=desk)
    with pytest.raises(ApplicationError, match="1 open ticket"):
        services.team_delete(team=desk, actor=admin_user)
    ticket_transition(actor=agent_user, ticket=ticket, to="cancelled", reason="Duplicate")
    services.team_delete(team=desk, actor=admin_user)
    assert not Team.objects.filter(name="Desk").exists()
    ticket.refresh_from_db()
    assert ticket.team_id is None  # a closed ticket keeps its history, not its team
    assert last("team.deleted")["name"] == "Desk"


def test_team_delete_keeps_sla_policies_from_widening(admin_user):
    from apps.sla.choices import EscalationAction
    from tests.sla.factories import make_calendar, make_policy

    ops = Team.objects.get(name="Ops")
    calendar = make_calendar(actor=admin_user)
    scoped = make_policy(calendar=calendar, actor=admin_user, name="Ops only", teams=[ops])
    with pytest.raises(ApplicationError, match="SLA policies apply to it: Ops only"):
        services.team_delete(team=ops, actor=admin_user)
    scoped.delete()
    make_policy(calendar=calendar, actor=admin_user, name="Escalating", escalations=[
        {"at_percent": 100, "action": EscalationAction.REASSIGN_TEAM, "team": ops}])
    with pytest.raises(ApplicationError, match="escalation steps of these SLA policies reassign to it: Escalating"):
        services.team_delete(team=ops, actor=admin_user)
    assert Team.objects.filter(pk=ops.pk).exists()
    assert not AuditEvent.objects.filter(action="team.deleted").exists()


# --- Two admins demoting each other at once ----------------------------------------------


def _race(tenant, first, second, *, hold: float = 0.5) -> list:
    """`first` in a transaction held open `hold` s after it returned; `second` starts
    once `first` has returned. Returns the two errors (None for success)."""
    returned = threading.Event()
    errors: list = [None, None]

    def run(index, work):
        try:
            connection.set_tenant(tenant)
            if index == 1:
                returned.wait(timeout=10)
            with transaction.atomic():
                work()
                if index == 0:
                    returned.set()
                    time.sleep(hold)
        except BaseException as exc:  # noqa: BLE001  (reported to the test)
            errors[index] = exc
        finally:
            returned.set()
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_two_admins_demoting_each_other_at_once_leave_one_admin(fresh_tenant):
    first = User.objects.get(email=f"admin@{fresh_tenant.slug}.test")
    second = services.user_create(email=f"admin2@{fresh_tenant.slug}.test", role=Role.ADMIN, actor=first)

    def demote(who, by):
        return lambda: services.user_set_role(
            user=User.objects.get(pk=who.pk), role=Role.AGENT, actor=User.objects.get(pk=by.pk))

    errors = _race(fresh_tenant, demote(first, second), demote(second, first))
    assert errors[0] is None, errors
    assert isinstance(errors[1], ApplicationError), errors
    assert "last active admin" in errors[1].message
    assert list(User.objects.filter(role=Role.ADMIN, is_active=True).values_list("pk", flat=True)) == [second.pk]
