"""Two-factor authentication: the API token endpoint asks for the TOTP code the browser
would ask for, and a tenant's admins switch "MFA required for admins" themselves
(policy-checked, audited)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import struct
import time

import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.db import connection
from django.test import Client

from apps.audit.models import AuditEvent
from apps.tenants.models import Tenant

HOST = "alpha.localhost"
PASSWORD = "correct-horse-battery-staple"


def totp_now(secret: str, *, offset_steps: int = 0) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits), written here independently of allauth's code."""
    key = base64.b32decode(secret)
    counter = int(time.time()) // 30 + offset_steps
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    start = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[start:start + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def enrol(user) -> str:
    secret = base64.b32encode(secrets.token_bytes(20)).decode()
    TOTP.activate(user, secret)
    return secret


def token_request(email: str, otp: str | None = None):
    body = {"email": email, "password": PASSWORD}
    if otp is not None:
        body["otp"] = otp
    return Client(HTTP_HOST=HOST).post("/api/v1/auth/token/", body, content_type="application/json")


def _mfa_failures(user) -> list[str]:
    events = AuditEvent.objects.filter(action="auth.mfa_failed", actor_id=user.pk).order_by("seq")
    return [json.loads(bytes(e.payload))["reason"] for e in events]


def test_admin_of_an_mfa_tenant_needs_a_valid_totp_code_for_a_token(tenant, admin_user):
    Tenant.objects.filter(pk=tenant.pk).update(mfa_required_for_admins=True)

    not_enrolled = token_request("admin@alpha.test")
    assert not_enrolled.status_code == 403
    assert not_enrolled["Content-Type"] == "application/problem+json"
    assert "set up an authenticator app" in not_enrolled.json()["detail"]
    assert "token" not in not_enrolled.json()

    secret = enrol(admin_user)
    missing = token_request("admin@alpha.test")
    assert missing.status_code == 400
    assert missing.json()["errors"] == {"otp": ["This field is required for your account."]}
    assert "authenticator app is required" in missing.json()["detail"]

    wrong_code = f"{(int(totp_now(secret)) + 1) % 1_000_000:06d}"
    wrong = token_request("admin@alpha.test", wrong_code)
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == "The authenticator code is wrong, expired or already used."
    stale = token_request("admin@alpha.test", totp_now(secret, offset_steps=-10))  # five minutes old
    assert stale.status_code == 400

    code = totp_now(secret)
    ok = token_request("admin@alpha.test", code)
    assert ok.status_code == 200, ok.content
    assert len(ok.json()["token"]) == 40
    replay = token_request("admin@alpha.test", code)
    assert replay.status_code == 400  # a code works once

    assert _mfa_failures(admin_user) == ["not_enrolled", "missing", "invalid", "invalid", "invalid"]
    # A wrong password still fails before any code is asked for.
    assert Client(HTTP_HOST=HOST).post(
        "/api/v1/auth/token/", {"email": "admin@alpha.test", "password": "nope", "otp": totp_now(secret)},
        content_type="application/json",
    ).status_code == 400


def test_agents_of_an_mfa_tenant_without_an_app_get_tokens_with_their_password(tenant, agent_user):
    Tenant.objects.filter(pk=tenant.pk).update(mfa_required_for_admins=True)
    assert token_request("agent@alpha.test").status_code == 200
    assert _mfa_failures(agent_user) == []


def test_anyone_with_an_authenticator_app_needs_its_code_even_when_the_tenant_does_not_require_it(
    tenant, requester_user
):
    assert Tenant.objects.get(pk=tenant.pk).mfa_required_for_admins is False
    secret = enrol(requester_user)
    assert token_request("requester@alpha.test").status_code == 400
    assert token_request("requester@alpha.test", totp_now(secret)).status_code == 200
    assert _mfa_failures(requester_user) == ["missing"]


def test_tenant_admin_turns_mfa_for_admins_on_from_the_security_page(tenant, web_as, admin_user):
    client = web_as(admin_user)
    assert b'href="/admin/security/"' in client.get("/admin/").content  # found from the admin index
    page = client.get("/admin/security/")
    assert page.status_code == 200
    assert b'name="mfa_required_for_admins"' in page.content
    response = client.post("/admin/security/", {"mfa_required_for_admins": "on"})
    assert response.status_code == 302
    assert Tenant.objects.get(pk=tenant.pk).mfa_required_for_admins is True
    event = AuditEvent.objects.filter(action="tenant.mfa_policy_changed").latest("seq")
    assert event.actor_id == admin_user.pk
    assert json.loads(bytes(event.payload)) == {"mfa_required_for_admins": True, "previous": False}
    # From now on the admin (no app yet) is sent to enrol one before anything else.
    assert "/accounts/2fa/totp/activate/" in client.get("/admin/")["Location"]


def test_agents_cannot_reach_the_security_page(tenant, web_as, agent_user):
    client = web_as(agent_user)
    response = client.post("/admin/security/", {"mfa_required_for_admins": "on"})
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert Tenant.objects.get(pk=tenant.pk).mfa_required_for_admins is False


def test_the_tenants_policies_decide_who_changes_security_settings(tenant, web_as, admin_user):
    from apps.policies.baseline import BASELINE_RULES
    from apps.policies.services import policy_publish

    deny = {"name": "security settings are frozen", "subject": "role:admin", "action": "tenant.security",
            "effect": "deny", "priority": 50}
    policy_publish(actor=None, rules=[*BASELINE_RULES, deny])
    response = web_as(admin_user).post("/admin/security/", {"mfa_required_for_admins": "on"})
    assert response.status_code == 403
    assert Tenant.objects.get(pk=tenant.pk).mfa_required_for_admins is False
    denied = AuditEvent.objects.filter(action="policy.denied").latest("seq")
    assert json.loads(bytes(denied.payload))["action"] == "tenant.security"
    assert not AuditEvent.objects.filter(action="tenant.mfa_policy_changed").exists()


def test_a_tenant_admin_cannot_change_another_tenant_and_platform_admins_can(tenant, other_tenant, admin_user):
    from django_tenants.utils import schema_context

    from apps.accounts.models import User
    from apps.core.errors import PermissionDenied
    from apps.tenants.services import tenant_set_admin_mfa

    with pytest.raises(PermissionDenied):
        tenant_set_admin_mfa(tenant=other_tenant, required=True, actor=admin_user)
    assert Tenant.objects.get(pk=other_tenant.pk).mfa_required_for_admins is False

    connection.set_schema_to_public()
    root = User.objects.filter(email="root@platform.test").first() or User.objects.create_superuser(
        "root@platform.test", "platform-password-1"
    )
    tenant_set_admin_mfa(tenant=other_tenant, required=True, actor=root)
    assert Tenant.objects.get(pk=other_tenant.pk).mfa_required_for_admins is True
    with schema_context(other_tenant.schema_name):
        event = AuditEvent.objects.filter(action="tenant.mfa_policy_changed").latest("seq")
        assert event.actor_label == "platform:root@platform.test"
    connection.set_tenant(tenant)
