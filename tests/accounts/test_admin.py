"""The tenant admin for people and teams, driven through the real admin pages.

Every write must be the accounts service's (its specific audit event, once, and no
generic `admin.*` event besides); a refusal must be a form error with nothing stored and
nothing announced; only tenant admins get in.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.test import Client

from apps.accounts.models import Role, Team, TeamMembership, User
from apps.accounts.services import token_issue, user_set_role
from apps.audit.models import AuditEvent

PASSWORD = "correct-horse-battery-staple"
USERS = "/admin/accounts/user/"
TEAMS = "/admin/accounts/team/"
SUCCESS = "successfully"


_START = {"seq": 0}


@pytest.fixture
def chain(tenant):
    """Only this test's events count (seeding wrote the chain's first ones)."""
    _START["seq"] = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def recent():
    return AuditEvent.objects.filter(seq__gt=_START["seq"]).order_by("seq")


def events(action: str) -> list[AuditEvent]:
    return list(recent().filter(action=action))


def payload(event: AuditEvent) -> dict:
    return json.loads(bytes(event.payload))


def no_generic_admin_events() -> bool:
    return not recent().filter(action__startswith="admin.").exists()


def user_data(user: User, **changes) -> dict:
    data = {
        "email": user.email, "full_name": user.full_name, "role": user.role, "language": user.language,
        "new_password1": "", "new_password2": "",
    }
    if user.is_active:
        data["is_active"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def team_data(team: Team | None, *, name=None, lead=None, remove=(), add=()) -> dict:
    """The POST of a team page: the current rows (those in `remove` ticked DELETE), then new rows."""
    memberships = list(team.memberships.order_by("pk")) if team else []
    lead_pk = lead.pk if lead is not None else (team.lead_id if team and team.lead_id else "")
    data = {
        "name": name if name is not None else team.name,
        "lead": lead_pk,
        "memberships-TOTAL_FORMS": str(len(memberships) + len(add)),
        "memberships-INITIAL_FORMS": str(len(memberships)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, membership in enumerate(memberships):
        data[f"memberships-{i}-id"] = str(membership.pk)
        data[f"memberships-{i}-team"] = str(team.pk)
        if membership.user_id in {u.pk for u in remove}:
            data[f"memberships-{i}-DELETE"] = "on"
    for j, user in enumerate(add, start=len(memberships)):
        data[f"memberships-{j}-user"] = str(user.pk) if isinstance(user, User) else str(user)
    return data


def refused(response) -> str:
    """The page came back with an error and without a success message."""
    assert response.status_code == 200, (response.status_code, response.get("Location"))
    html = response.content.decode()
    assert "errornote" in html or "errorlist" in html, html[:3000]
    assert SUCCESS not in html
    return html


@pytest.fixture
def client(web_as, admin_user, chain) -> Client:
    return web_as(admin_user)


@pytest.fixture
def desk() -> Team:
    return Team.objects.get(name="Desk")


@pytest.fixture
def ops() -> Team:
    return Team.objects.get(name="Ops")


# --- Users -------------------------------------------------------------------------------


def test_add_user_goes_through_user_create(client, admin_user):
    response = client.post(f"{USERS}add/", {
        "email": "New.Agent@Alpha.test", "full_name": "New Agent", "role": "agent",
        "password1": "a-long-enough-password", "password2": "a-long-enough-password",
    })
    assert response.status_code == 302, response.content[:3000]
    user = User.objects.get(email="new.agent@alpha.test")  # normalised by the service
    assert (user.role, user.full_name, user.is_staff) == ("agent", "New Agent", False)
    assert user.check_password("a-long-enough-password")
    [created] = events("user.created")
    assert created.actor_id == admin_user.pk
    assert created.target_id == str(user.pk)
    assert payload(created) == {"email": "new.agent@alpha.test", "role": "agent"}
    assert "a-long-enough-password" not in json.dumps([payload(e) for e in recent()])
    assert no_generic_admin_events()
    assert LogEntry.objects.filter(object_id=str(user.pk), action_flag=ADDITION).exists()  # the admin history stays
    assert response["Location"] == f"{USERS}"
    assert SUCCESS in client.get(response["Location"]).content.decode()


def test_add_user_without_a_password_leaves_it_unusable(client):
    response = client.post(f"{USERS}add/", {"email": "later@alpha.test", "role": "requester"})
    assert response.status_code == 302, response.content[:3000]
    user = User.objects.get(email="later@alpha.test")
    assert not user.has_usable_password()
    page = client.get(f"{USERS}{user.pk}/change/").content.decode()
    assert "Forgot password?" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "AGENT@alpha.test", "role": "agent"}, "already exists"),  # only the service compares case-blind
        ({"email": "weak@alpha.test", "role": "agent", "password1": "123", "password2": "123"}, "too short"),
        ({"email": "typo@alpha.test", "role": "agent", "password1": "a-long-enough-password",
          "password2": "a-long-enough-passwort"}, "do not match"),
        ({"email": "not-an-email", "role": "agent"}, "valid email"),
    ],
)
def test_add_user_refusals_are_form_errors_and_store_nothing(client, data, message):
    before = User.objects.count()
    html = refused(client.post(f"{USERS}add/", data))
    assert message in html
    assert User.objects.count() == before
    assert not events("user.created")
    assert not LogEntry.objects.exists()


def test_role_change_is_audited_once_as_a_role_change(client, admin_user, requester_user):
    response = client.post(f"{USERS}{requester_user.pk}/change/", user_data(requester_user, role="admin"))
    assert response.status_code == 302, response.content[:3000]
    requester_user.refresh_from_db()
    assert (requester_user.role, requester_user.is_staff) == ("admin", True)
    [changed] = events("user.role_changed")
    assert payload(changed) == {"from": "requester", "to": "admin"}
    assert changed.actor_id == admin_user.pk
    assert no_generic_admin_events()
    assert not events("user.updated")  # nothing else changed, nothing else recorded
    assert LogEntry.objects.filter(object_id=str(requester_user.pk), action_flag=CHANGE).exists()


def test_profile_active_flag_and_password_each_through_their_service(client, agent_user):
    token = token_issue(user=agent_user).key
    response = client.post(f"{USERS}{agent_user.pk}/change/", user_data(
        agent_user, email="Agent.Renamed@alpha.test", full_name="Agent Renamed", language="pl", is_active=None,
        new_password1="another-long-password", new_password2="another-long-password",
    ))
    assert response.status_code == 302, response.content[:3000]
    agent_user.refresh_from_db()
    assert (agent_user.email, agent_user.full_name, agent_user.language) == (
        "agent.renamed@alpha.test", "Agent Renamed", "pl")
    assert not agent_user.is_active
    assert agent_user.check_password("another-long-password")
    [updated] = events("user.updated")
    assert payload(updated)["changes"]["email"] == {"from": "agent@alpha.test", "to": "agent.renamed@alpha.test"}
    assert set(payload(updated)["changes"]) == {"email", "full_name", "language"}
    assert len(events("user.deactivated")) == 1
    assert len(events("user.password_set")) == 1
    assert no_generic_admin_events()
    # The deactivated agent's token is gone and their API calls fail.
    api = Client(HTTP_HOST="alpha.localhost")
    assert api.get("/api/v1/tickets/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    assert "another-long-password" not in json.dumps([payload(e) for e in recent()])


def test_reactivating_is_audited(client, agent_user):
    client.post(f"{USERS}{agent_user.pk}/change/", user_data(agent_user, is_active=None))
    agent_user.refresh_from_db()
    response = client.post(f"{USERS}{agent_user.pk}/change/", user_data(agent_user, is_active="on"))
    assert response.status_code == 302, response.content[:3000]
    agent_user.refresh_from_db()
    assert agent_user.is_active
    assert [e.action for e in recent().filter(action__startswith="user.").order_by("seq")] == [
        "user.deactivated", "user.reactivated"]


@pytest.mark.parametrize("change", [{"role": "agent"}, {"is_active": None}])
def test_the_last_active_admin_is_kept_and_nothing_is_claimed(client, admin_user, change):
    before = admin_user.full_name
    html = refused(client.post(f"{USERS}{admin_user.pk}/change/", user_data(admin_user, full_name="Still Me", **change)))
    assert "last active admin" in html
    assert 'value="Still Me"' in html  # the input is shown again
    admin_user.refresh_from_db()
    # The name change in the same submit is rolled back with the refused change.
    assert (admin_user.role, admin_user.is_active, admin_user.full_name) == ("admin", True, before)
    assert not recent().filter(action__startswith="user.").exists()
    assert not LogEntry.objects.exists()
    assert SUCCESS not in client.get(USERS).content.decode()  # no success message was queued either


def test_a_second_admin_may_be_demoted(client, admin_user, agent2_user):
    user_set_role(user=agent2_user, role=Role.ADMIN, actor=admin_user)
    response = client.post(f"{USERS}{admin_user.pk}/change/", user_data(admin_user, role="agent"))
    assert response.status_code == 302, response.content[:3000]
    admin_user.refresh_from_db()
    assert admin_user.role == "agent"


def test_an_email_taken_in_another_case_is_refused_on_change(client, agent_user):
    html = refused(client.post(f"{USERS}{agent_user.pk}/change/", user_data(agent_user, email="AGENT2@alpha.test")))
    assert html.count("A user with email agent2@alpha.test already exists.") == 1  # next to the field, once
    agent_user.refresh_from_db()
    assert agent_user.email == "agent@alpha.test"


def test_a_weak_new_password_is_refused_and_the_old_one_kept(client, agent_user):
    html = refused(client.post(f"{USERS}{agent_user.pk}/change/", user_data(
        agent_user, full_name="Renamed", new_password1="123", new_password2="123")))
    assert "too short" in html
    agent_user.refresh_from_db()
    assert agent_user.check_password(PASSWORD)
    assert agent_user.full_name == ""
    assert not events("user.updated")


def test_a_policy_denial_is_a_form_error_and_nothing_is_stored(client, admin_user, requester_user):
    from apps.policies.models import PolicySet
    from apps.policies.services import policy_publish

    rules = PolicySet.objects.get().current_version.rules
    deny = {"name": "no new admins", "subject": "*", "action": "user.manage", "effect": "deny", "priority": 100,
            "conditions": [{"field": "context.role", "op": "equals", "value": "admin"}]}
    policy_publish(actor=admin_user, rules=[*rules, deny])
    html = refused(client.post(f"{USERS}{requester_user.pk}/change/",
                               user_data(requester_user, full_name="Promoted", role="admin")))
    assert "no new admins" in html
    requester_user.refresh_from_db()
    assert (requester_user.role, requester_user.full_name) == ("requester", "")
    assert not events("user.role_changed")
    assert not events("user.updated")
    # Adding someone as an admin is refused by the same rule; adding an agent is not.
    assert "no new admins" in refused(client.post(f"{USERS}add/", {"email": "boss@alpha.test", "role": "admin"}))
    assert client.post(f"{USERS}add/", {"email": "helper@alpha.test", "role": "agent"}).status_code == 302
    assert not User.objects.filter(email="boss@alpha.test").exists()


def test_users_are_deactivated_never_deleted(client, requester_user):
    assert client.get(f"{USERS}{requester_user.pk}/delete/").status_code == 403
    assert client.post(f"{USERS}{requester_user.pk}/delete/", {"post": "yes"}).status_code == 403
    assert "delete_selected" not in client.get(USERS).content.decode()
    assert User.objects.filter(pk=requester_user.pk).exists()


def test_bulk_deactivation_goes_through_the_service_and_reports_refusals(client, admin_user, agent_user,
                                                                         requester_user):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    response = client.post(USERS, {"action": "deactivate_selected",
                                   ACTION_CHECKBOX_NAME: [admin_user.pk, agent_user.pk, requester_user.pk]},
                           follow=True)
    html = response.content.decode()
    assert "Not changed for admin@alpha.test: admin@alpha.test is the last active admin" in html
    assert "2 users deactivated." in html
    assert list(User.objects.filter(is_active=False).order_by("email").values_list("email", flat=True)) == [
        "agent@alpha.test", "requester@alpha.test"]
    assert sorted(e.target_id for e in events("user.deactivated")) == sorted([str(agent_user.pk),
                                                                              str(requester_user.pk)])
    client.post(USERS, {"action": "reactivate_selected", ACTION_CHECKBOX_NAME: [agent_user.pk]})
    assert User.objects.get(pk=agent_user.pk).is_active
    assert len(events("user.reactivated")) == 1
    assert no_generic_admin_events()


# --- Teams -------------------------------------------------------------------------------


def test_add_team_with_a_lead_and_an_inline_member(client, admin_user, agent_user, agent2_user):
    response = client.post(f"{TEAMS}add/", team_data(None, name="Network", lead=agent_user, add=[agent2_user]))
    assert response.status_code == 302, response.content[:3000]
    team = Team.objects.get(name="Network")
    assert team.lead_id == agent_user.pk
    assert set(team.members.values_list("email", flat=True)) == {"agent@alpha.test", "agent2@alpha.test"}
    [created] = events("team.created")
    assert payload(created) == {"name": "Network", "lead": agent_user.pk}
    assert sorted(payload(e)["user"] for e in events("team.member_added")) == sorted([agent_user.pk, agent2_user.pk])
    assert all(e.actor_id == admin_user.pk for e in recent().filter(action__startswith="team."))
    assert no_generic_admin_events()
    entry = LogEntry.objects.get(object_id=str(team.pk), action_flag=ADDITION)
    assert "team membership" in entry.get_change_message()


def test_inline_adds_and_removes_members_through_the_services(client, desk, agent_user, agent2_user):
    response = client.post(f"{TEAMS}{desk.pk}/change/", team_data(desk, remove=[agent_user], add=[agent2_user]))
    assert response.status_code == 302, response.content[:3000]
    desk.refresh_from_db()
    assert list(desk.members.values_list("email", flat=True)) == ["agent2@alpha.test"]
    assert desk.lead_id is None  # the removed member was the lead
    [removed] = events("team.member_removed")
    assert payload(removed) == {"user": agent_user.pk, "was_lead": True}
    [added] = events("team.member_added")
    assert payload(added) == {"user": agent2_user.pk}
    assert no_generic_admin_events()


def test_changing_the_lead_is_a_lead_change(client, ops, agent_user):
    response = client.post(f"{TEAMS}{ops.pk}/change/", team_data(ops, lead=agent_user))
    assert response.status_code == 302, response.content[:3000]
    ops.refresh_from_db()
    assert ops.lead_id == agent_user.pk
    assert ops.members.filter(pk=agent_user.pk).exists()  # a lead is a member
    [changed] = events("team.lead_changed")
    assert payload(changed) == {"from": None, "to": agent_user.pk}
    assert [payload(e)["user"] for e in events("team.member_added")] == [agent_user.pk]
    assert no_generic_admin_events()


def test_renaming_a_team(client, ops):
    response = client.post(f"{TEAMS}{ops.pk}/change/", team_data(ops, name="Operations"))
    assert response.status_code == 302, response.content[:3000]
    ops.refresh_from_db()
    assert ops.name == "Operations"
    assert payload(events("team.renamed")[0]) == {"from": "Ops", "to": "Operations"}


def test_a_refused_team_change_stores_nothing_of_the_submit(client, ops, agent_user):
    # "desk" differs from "Desk" in case only: the form's unique check lets it through, the service does not.
    html = refused(client.post(f"{TEAMS}{ops.pk}/change/", team_data(ops, name="desk", lead=agent_user)))
    assert "already exists" in html
    ops.refresh_from_db()
    assert (ops.name, ops.lead_id) == ("Ops", None)
    assert not ops.members.filter(pk=agent_user.pk).exists()
    assert not recent().filter(action__startswith="team.").exists()
    assert not LogEntry.objects.exists()


def test_an_invalid_inline_row_stops_the_team_change_before_any_service(client, ops):
    html = refused(client.post(f"{TEAMS}{ops.pk}/change/", team_data(ops, name="Renamed", add=[999_999])))
    assert "Select a valid choice" in html
    ops.refresh_from_db()
    assert ops.name == "Ops"
    assert not recent().filter(action__startswith="team.").exists()


def test_deleting_a_team_through_team_delete(client, ops, agent2_user):
    page = client.get(f"{TEAMS}{ops.pk}/delete/")
    assert page.status_code == 200
    response = client.post(f"{TEAMS}{ops.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content[:3000]
    assert not Team.objects.filter(pk=ops.pk).exists()
    assert not TeamMembership.objects.filter(team_id=ops.pk).exists()
    [deleted] = events("team.deleted")
    assert payload(deleted) == {"name": "Ops", "lead": None, "members": [agent2_user.pk]}
    assert no_generic_admin_events()
    assert LogEntry.objects.filter(object_id=str(ops.pk), action_flag=DELETION).exists()


def test_a_team_with_open_tickets_is_not_deleted(client, desk, requester_user, agent_user):
    from apps.tickets.services import ticket_create

    ticket_create(actor=agent_user, requester=requester_user, title="Still open", team=desk)
    response = client.post(f"{TEAMS}{desk.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"] == f"{TEAMS}{desk.pk}/change/"
    page = client.get(response["Location"]).content.decode()
    assert "1 open ticket(s)" in page
    assert "deleted successfully" not in page
    assert Team.objects.filter(pk=desk.pk).exists()
    assert not events("team.deleted")
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()


def test_teams_have_no_bulk_delete(client):
    assert "delete_selected" not in client.get(TEAMS).content.decode()


# --- Who gets in -------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["agent", "requester"])
def test_agents_and_requesters_cannot_reach_these_pages(web_as, who, desk, requester_user, chain):
    client = web_as(User.objects.get(email=f"{who}@alpha.test"))
    for path in (USERS, f"{USERS}add/", f"{USERS}{requester_user.pk}/change/",
                 TEAMS, f"{TEAMS}add/", f"{TEAMS}{desk.pk}/change/", f"{TEAMS}{desk.pk}/delete/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/admin/login/"), path
    assert client.post(f"{USERS}add/", {"email": "sneaky@alpha.test", "role": "admin"}).status_code == 302
    assert client.post(f"{TEAMS}{desk.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not User.objects.filter(email="sneaky@alpha.test").exists()
    assert Team.objects.filter(pk=desk.pk).exists()
    assert not recent().filter(action__in=["user.created", "team.deleted"]).exists()


def test_the_platform_admin_site_has_no_people_or_teams(db):
    from django.db import connection

    connection.set_schema_to_public()
    root = User.objects.filter(email="root@platform.test").first() or User.objects.create_superuser(
        "root@platform.test", "platform-password-1")
    client = Client(HTTP_HOST="localhost")
    client.force_login(root, backend="django.contrib.auth.backends.ModelBackend")
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/tenants/tenant/" in index.content
    assert b"/admin/accounts/" not in index.content
    assert client.get(USERS).status_code == 403
    assert client.get(TEAMS).status_code == 403


# --- A denial survives the rollback ------------------------------------------------------


def test_a_policy_denial_in_the_admin_is_recorded_after_the_rollback(fresh_tenant, django_db_blocker):
    """Committed data: the admin's transaction really rolls back and the denial is written again."""
    from apps.policies.models import DecisionLog, PolicySet
    from apps.policies.services import policy_publish

    with django_db_blocker.unblock():
        admin = User.objects.get(email=f"admin@{fresh_tenant.slug}.test")
        rules = PolicySet.objects.get().current_version.rules
        deny = {"name": "people frozen", "subject": "*", "action": "user.manage", "effect": "deny", "priority": 100}
        policy_publish(actor=admin, rules=[*rules, deny])
        client = Client(HTTP_HOST=fresh_tenant.domains.get().domain)
        client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
        html = refused(client.post(f"{USERS}add/", {"email": "blocked@example.test", "role": "agent"}))
        assert "people frozen" in html
        assert not User.objects.filter(email="blocked@example.test").exists()
        denials = DecisionLog.objects.filter(action="user.manage", allowed=False)
        assert denials.count() == 1
        assert AuditEvent.objects.filter(action="policy.denied").count() == 1
