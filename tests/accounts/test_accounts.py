import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from apps.accounts import permissions
from apps.accounts.models import Role, Team, User
from apps.accounts.services import user_set_role
from apps.audit.models import AuditEvent

HOST = "alpha.localhost"
PASSWORD = "correct-horse-battery-staple"


def test_create_user_command(tenant, capsys):
    call_command("create_user", "--tenant", "alpha", "--email", "New@Alpha.test", "--role", "agent",
                 "--password", "a-long-enough-password", "--team", "Desk")
    out = json.loads(capsys.readouterr().out)
    assert out == {"tenant": "alpha", "id": out["id"], "email": "new@alpha.test", "role": "agent", "team": "Desk"}
    user = User.objects.get(email="new@alpha.test")
    assert user.teams.filter(name="Desk").exists()
    assert AuditEvent.objects.filter(action="operator.create_user").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--email", "x@y.test", "--role", "agent"], "no tenant"),
        (["--tenant", "alpha", "--email", "agent@alpha.test", "--role", "agent"], "already exists"),
        (["--tenant", "alpha", "--email", "short@alpha.test", "--role", "agent", "--password", "123"], "too short"),
    ],
)
def test_create_user_command_errors(tenant, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_user", *args)
    assert not User.objects.filter(email="short@alpha.test").exists()


def test_issue_token_prints_a_working_token(tenant, capsys):
    call_command("issue_token", "--tenant", "alpha", "--email", "admin@alpha.test")
    token = capsys.readouterr().out.strip()
    assert len(token) == 40
    response = Client(HTTP_HOST=HOST).get("/api/v1/audit/events/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    issued = AuditEvent.objects.filter(action="operator.issue_token").latest("seq")
    assert token not in bytes(issued.payload).decode()


def test_issue_token_for_unknown_user(tenant):
    with pytest.raises(CommandError, match="no active user"):
        call_command("issue_token", "--tenant", "alpha", "--email", "ghost@alpha.test")


def test_token_endpoint(tenant):
    client = Client(HTTP_HOST=HOST)
    ok = client.post("/api/v1/auth/token/", {"email": "agent@alpha.test", "password": PASSWORD},
                     content_type="application/json")
    assert ok.status_code == 200
    assert len(ok.json()["token"]) == 40
    bad = client.post("/api/v1/auth/token/", {"email": "agent@alpha.test", "password": "wrong"},
                      content_type="application/json")
    assert bad.status_code == 400
    assert bad["Content-Type"] == "application/problem+json"
    assert AuditEvent.objects.filter(action="auth.login_failed").exists()


def test_browser_login_and_logout_are_audited(tenant):
    client = Client(HTTP_HOST=HOST)
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    response = client.post("/accounts/login/", {"login": "agent@alpha.test", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/desk/", HTTP_ACCEPT="text/html").status_code == 200
    assert AuditEvent.objects.filter(action="auth.login").exists()
    client.post("/accounts/logout/")
    assert AuditEvent.objects.filter(action="auth.logout").exists()
    failed = client.post("/accounts/login/", {"login": "agent@alpha.test", "password": "nope"})
    assert failed.status_code == 200
    assert AuditEvent.objects.filter(action="auth.login_failed").exists()


def test_signup_is_closed(tenant):
    response = Client(HTTP_HOST=HOST).post(
        "/accounts/signup/", {"email": "walkin@alpha.test", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert not User.objects.filter(email="walkin@alpha.test").exists()
    assert response.status_code in (200, 403)


def test_password_reset_sends_mail(tenant, mailoutbox):
    response = Client(HTTP_HOST=HOST).post("/accounts/password/reset/", {"email": "agent@alpha.test"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert "alpha.localhost" in mailoutbox[0].body


def test_mfa_is_required_for_admins_when_the_tenant_says_so(tenant, web_as, admin_user, agent_user):
    from apps.tenants.models import Tenant

    Tenant.objects.filter(pk=tenant.pk).update(mfa_required_for_admins=True)
    admin_client = Client(HTTP_HOST=HOST)
    admin_client.post("/accounts/login/", {"login": "admin@alpha.test", "password": PASSWORD})
    response = admin_client.get("/admin/")
    assert response.status_code == 302
    assert "/accounts/2fa/totp/activate/" in response["Location"]
    enrol = admin_client.get(response["Location"], follow=True)
    assert enrol.status_code == 200
    assert enrol.request["PATH_INFO"].startswith("/accounts/")
    agent_client = Client(HTTP_HOST=HOST)
    agent_client.post("/accounts/login/", {"login": "agent@alpha.test", "password": PASSWORD})
    assert agent_client.get("/desk/", HTTP_ACCEPT="text/html").status_code == 200


def test_role_change_is_audited_and_syncs_staff(tenant, requester_user, admin_user):
    user_set_role(user=requester_user, role=Role.ADMIN, actor=admin_user)
    requester_user.refresh_from_db()
    assert requester_user.is_staff
    event = AuditEvent.objects.filter(action="user.role_changed").latest("seq")
    assert json.loads(bytes(event.payload)) == {"from": "requester", "to": "admin"}


def test_team_membership_changes_are_audited(tenant, agent2_user, admin_user):
    from apps.accounts.services import team_add_member, team_remove_member

    desk = Team.objects.get(name="Desk")
    team_add_member(team=desk, user=agent2_user, actor=admin_user)
    team_remove_member(team=desk, user=agent2_user, actor=admin_user)
    actions = list(AuditEvent.objects.order_by("-seq").values_list("action", flat=True)[:2])
    assert actions == ["team.member_removed", "team.member_added"]


@pytest.mark.parametrize(
    ("role", "agent", "admin"),
    [(Role.REQUESTER, False, False), (Role.AGENT, True, False), (Role.ADMIN, True, True)],
)
def test_permission_module(tenant, role, agent, admin):
    user = User(email="x@alpha.test", role=role)
    assert permissions.is_member(user)
    assert permissions.is_agent(user) is agent
    assert permissions.is_tenant_admin(user) is admin


def test_admin_changes_are_audited_once(web_as, admin_user):
    from django.contrib.admin.models import ADDITION, LogEntry

    client = web_as(admin_user)
    start = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    response = client.post("/admin/accounts/team/add/", {
        "name": "Network", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content[:500]
    network = Team.objects.get(name="Network")
    # A page that saves through a service: the service's event, not the generic one too.
    assert list(AuditEvent.objects.filter(seq__gt=start).values_list("action", flat=True)) == ["team.created"]
    assert LogEntry.objects.filter(object_id=str(network.pk), action_flag=ADDITION).exists()
    # An ordinary admin history entry (pages that do not save through services) is audited generically.
    LogEntry.objects.log_actions(admin_user.pk, [network], ADDITION, "", single_object=True)
    event = AuditEvent.objects.filter(action="admin.created").latest("seq")
    assert json.loads(bytes(event.payload))["model"] == "accounts.team"


@pytest.mark.parametrize(("email", "landing"), [("agent@alpha.test", "/desk/"), ("requester@alpha.test", "/portal/")])
def test_home_sends_each_role_to_its_workspace(tenant, web_as, email, landing):
    response = web_as(User.objects.get(email=email)).get("/", HTTP_ACCEPT="text/html")
    assert response.status_code == 302
    assert response["Location"] == landing
