"""The events the issue requires, produced through the real flows: allauth's MFA views,
the Django admin (ours and a third-party admin class), and what happens to a sign-in
when its event cannot be written."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import time

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client

from apps.accounts.models import Role, Team, User
from apps.audit.models import AuditEvent

HOST = "alpha.localhost"
PASSWORD = "correct-horse-battery-staple"


def _events(action: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("seq"))


def _totp(secret: str) -> str:
    """RFC 6238 (SHA-1, 30 s steps, 6 digits): the code an authenticator app shows now."""
    counter = int(time.time()) // 30
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def _signed_in(email: str) -> Client:
    client = Client(HTTP_HOST=HOST)
    response = client.post("/accounts/login/", {"login": email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


# --- MFA through allauth's own views ------------------------------------------------------


def test_mfa_added_reset_and_removed_are_audited(tenant, agent_user, django_capture_on_commit_callbacks):
    client = _signed_in("agent@alpha.test")
    # allauth asks for the password again before MFA changes: the real reauthentication step.
    reauthenticated = client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert reauthenticated.status_code == 302, reauthenticated.content[:300]
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    secret = client.session["mfa.totp.secret"]
    with django_capture_on_commit_callbacks(execute=True):  # allauth signals once its change commits
        activated = client.post("/accounts/2fa/totp/activate/", {"code": _totp(secret)})
    assert activated.status_code == 302, activated.content[:500]
    added = _events("auth.mfa_added", actor_id=agent_user.pk)
    assert sorted(e.payload_data["type"] for e in added) == ["recovery_codes", "totp"]
    assert {(e.target_type, e.target_id) for e in added} == {("accounts.user", str(agent_user.pk))}

    with django_capture_on_commit_callbacks(execute=True):
        regenerated = client.post("/accounts/2fa/recovery-codes/generate/")
    assert regenerated.status_code == 302
    [reset] = _events("auth.mfa_reset", actor_id=agent_user.pk)
    assert reset.payload_data["type"] == "recovery_codes"

    deactivated = client.post("/accounts/2fa/totp/deactivate/")
    assert deactivated.status_code == 302
    removed = _events("auth.mfa_removed", actor_id=agent_user.pk)
    assert sorted(e.payload_data["type"] for e in removed) == ["recovery_codes", "totp"]


# --- a sign-in that cannot be recorded does not happen ---------------------------------------


def _break_the_audit_log() -> None:
    """A real failure for the rest of this (rolled-back) test: the events table is gone."""
    with connection.cursor() as cursor:
        cursor.execute('ALTER TABLE "audit_auditevent" RENAME TO "audit_auditevent_gone"')


def test_a_sign_in_that_cannot_be_audited_is_refused(tenant, caplog):
    _break_the_audit_log()
    client = Client(HTTP_HOST=HOST)
    with caplog.at_level("ERROR", logger="warden.audit.fallback"):
        response = client.post("/accounts/login/", {"login": "agent@alpha.test", "password": PASSWORD},
                               HTTP_ACCEPT="text/html")
    assert response.status_code == 503
    assert b"cannot be recorded" in response.content
    assert "_auth_user_id" not in client.session  # not signed in
    desk = client.get("/desk/", HTTP_ACCEPT="text/html")
    assert desk.status_code == 302
    assert "/accounts/login/" in desk["Location"]
    fallback = [r for r in caplog.records if r.name == "warden.audit.fallback"]
    assert len(fallback) == 1
    assert '"action": "auth.login"' in fallback[0].getMessage()


def test_what_cannot_be_undone_goes_to_the_fallback_log(tenant, caplog):
    client = _signed_in("agent@alpha.test")
    _break_the_audit_log()
    with caplog.at_level("ERROR", logger="warden.audit.fallback"):
        client.post("/accounts/logout/")
        Client(HTTP_HOST=HOST).post("/accounts/login/", {"login": "agent@alpha.test", "password": "wrong"})
    assert "_auth_user_id" not in client.session  # signed out all the same
    lines = [json.loads(r.getMessage().split(": ", 1)[1]) for r in caplog.records if r.name == "warden.audit.fallback"]
    assert [line["action"] for line in lines] == ["auth.logout", "auth.login_failed"]
    assert lines[1]["payload"]["email"] == "agent@alpha.test"
    assert all(line["tenant"] == "t_alpha" for line in lines)


# --- the Django admin ---------------------------------------------------------------------


def test_admin_update_and_delete_are_audited_once(web_as, admin_user):
    client = web_as(admin_user)
    team = Team.objects.create(name="Network")
    changed = client.post(f"/admin/accounts/team/{team.pk}/change/", {
        "name": "Networking", "lead": "", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    })
    assert changed.status_code == 302, changed.content[:800]
    [updated] = _events("admin.updated")
    assert updated.actor_id == admin_user.pk
    assert (updated.payload_data["model"], updated.payload_data["object_id"]) == ("accounts.team", str(team.pk))
    assert "name" in updated.payload_data["changes"].lower()

    deleted_view = client.post(f"/admin/accounts/team/{team.pk}/delete/", {"post": "yes"})
    assert deleted_view.status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()
    [deleted] = _events("admin.deleted")
    assert deleted.payload_data["object"] == "Networking"


@pytest.mark.parametrize("count", [1, 3])
def test_bulk_delete_through_our_admin_is_audited_once_per_object(web_as, admin_user, count):
    teams = [Team.objects.create(name=f"Bulk {i}") for i in range(count)]
    response = web_as(admin_user).post("/admin/accounts/team/", {
        "action": "delete_selected", "_selected_action": [t.pk for t in teams], "post": "yes",
    })
    assert response.status_code == 302
    assert not Team.objects.filter(pk__in=[t.pk for t in teams]).exists()
    events = _events("admin.deleted")
    assert sorted(e.payload_data["object_id"] for e in events) == sorted(str(t.pk) for t in teams)
    assert {e.payload_data["model"] for e in events} == {"accounts.team"}


def test_bulk_delete_through_a_third_party_admin_is_audited(web_as, admin_user, agent_user, requester_user):
    """allauth's Authenticator admin is not a WardenModelAdmin: the site's hook covers it."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    for user in (agent_user, requester_user):
        TOTP.activate(user, base64.b32encode(b"0123456789abcdefghij").decode())
    admin_user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="mfa", codename__in=["view_authenticator", "delete_authenticator"])
    )
    admin_user = User.objects.get(pk=admin_user.pk)  # fresh permission cache
    ids = list(Authenticator.objects.filter(user__in=[agent_user, requester_user]).values_list("pk", flat=True))
    assert len(ids) == 2
    response = web_as(admin_user).post("/admin/mfa/authenticator/", {
        "action": "delete_selected", "_selected_action": ids, "post": "yes",
    })
    assert response.status_code == 302, response.content[:500]
    assert not Authenticator.objects.filter(pk__in=ids).exists()
    events = _events("admin.deleted")
    assert sorted(e.payload_data["object_id"] for e in events) == sorted(map(str, ids))
    assert {e.payload_data["model"] for e in events} == {"mfa.authenticator"}
    assert {e.actor_id for e in events} == {admin_user.pk}


def test_a_role_change_made_in_the_admin_is_audited(web_as, admin_user, agent_user):
    response = web_as(admin_user).post(f"/admin/accounts/user/{agent_user.pk}/change/", {
        "email": agent_user.email, "full_name": "Promoted Agent", "role": Role.ADMIN, "is_active": "on", "language": "",
    })
    assert response.status_code == 302, response.content[:800]
    agent_user.refresh_from_db()
    assert agent_user.role == Role.ADMIN
    [role] = _events("user.role_changed")
    assert role.payload_data == {"from": "agent", "to": "admin"}
    assert role.actor_id == admin_user.pk
    assert (role.target_type, role.target_id) == ("accounts.user", str(agent_user.pk))
    [updated] = _events("admin.updated")
    assert updated.payload_data["model"] == "accounts.user"
