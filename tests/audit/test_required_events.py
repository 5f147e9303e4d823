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

from apps.accounts.models import Role, User
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
#
# The generic `admin.*` events come from hooks every admin class gets (apps/accounts/admin_site.py).
# Django's own Group admin exercises them here: third-party code that Warden does not
# shape, given the permissions a tenant could grant. (Warden's user and team pages save
# through their services, which write the specific events instead.)


def _grant(user, app_label: str, *actions: str) -> User:
    codenames = [f"{action}_{model}" for action, model in (a.split(":") for a in actions)]
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
    return User.objects.get(pk=user.pk)  # fresh permission cache


def _form_post_data(response) -> dict:
    """The admin change form's current values, as the browser would post them back."""
    form = response.context["adminform"].form
    data: dict = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(value, bool) or (value is None and field.widget.__class__.__name__ == "CheckboxInput"):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif value is not None:
            data[name] = str(value)
    for inline in response.context.get("inline_admin_formsets", []):
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = str(value)
        for index, inline_form in enumerate(formset.initial_forms):
            for name in inline_form.fields:
                value = inline_form[name].value()
                if value not in (None, False):
                    data[f"{formset.prefix}-{index}-{name}"] = "on" if value is True else str(value)
        data[f"{formset.prefix}-TOTAL_FORMS"] = str(len(formset.initial_forms))
    return data


def test_admin_update_and_delete_are_audited_once(web_as, admin_user):
    from django.contrib.auth.models import Group

    admin_user = _grant(admin_user, "auth", "view:group", "change:group", "delete:group")
    client = web_as(admin_user)
    group = Group.objects.create(name="Auditors")
    changed = client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "Internal auditors"})
    assert changed.status_code == 302, changed.content[:800]
    [updated] = _events("admin.updated")
    assert updated.actor_id == admin_user.pk
    assert (updated.payload_data["model"], updated.payload_data["object_id"]) == ("auth.group", str(group.pk))
    assert "name" in updated.payload_data["changes"].lower()

    deleted_view = client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"})
    assert deleted_view.status_code == 302
    assert not Group.objects.filter(pk=group.pk).exists()
    [deleted] = _events("admin.deleted")
    assert deleted.payload_data["object"] == "Internal auditors"


@pytest.mark.parametrize("count", [1, 3])
def test_bulk_delete_is_audited_once_per_object(web_as, admin_user, count):
    """One object goes through LogEntry.save() (a signal), several through bulk_create (none):
    either way exactly one event per object."""
    from django.contrib.auth.models import Group

    admin_user = _grant(admin_user, "auth", "view:group", "delete:group")
    groups = [Group.objects.create(name=f"Bulk {i}") for i in range(count)]
    response = web_as(admin_user).post("/admin/auth/group/", {
        "action": "delete_selected", "_selected_action": [g.pk for g in groups], "post": "yes",
    })
    assert response.status_code == 302, response.content[:500]
    assert not Group.objects.filter(pk__in=[g.pk for g in groups]).exists()
    events = _events("admin.deleted")
    assert sorted(e.payload_data["object_id"] for e in events) == sorted(str(g.pk) for g in groups)
    assert {e.payload_data["model"] for e in events} == {"auth.group"}


def test_bulk_delete_through_another_third_party_admin_is_audited(web_as, admin_user, agent_user, requester_user):
    """allauth's Authenticator admin (Warden's read-only one, which may delete): a tenant
    admin resetting two people's MFA at once."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    for user in (agent_user, requester_user):
        TOTP.activate(user, base64.b32encode(b"0123456789abcdefghij").decode())
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


def test_an_agent_cannot_reach_the_authenticator_admin(web_as, agent_user):
    assert web_as(agent_user).get("/admin/mfa/authenticator/").status_code in (302, 403)


def test_a_role_change_made_in_the_admin_is_audited(web_as, admin_user, agent_user):
    client = web_as(admin_user)
    page = client.get(f"/admin/accounts/user/{agent_user.pk}/change/")
    assert page.status_code == 200
    data = _form_post_data(page)
    data["role"] = Role.ADMIN
    response = client.post(f"/admin/accounts/user/{agent_user.pk}/change/", data)
    assert response.status_code == 302, response.content[:1500]
    agent_user.refresh_from_db()
    assert agent_user.role == Role.ADMIN
    [role] = _events("user.role_changed")
    assert role.payload_data == {"from": "agent", "to": "admin"}
    assert role.actor_id == admin_user.pk
    assert (role.target_type, role.target_id) == ("accounts.user", str(agent_user.pk))
