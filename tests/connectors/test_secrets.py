"""Secrets: key rotation with `rotate_secrets`, and a secret no key decrypts."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.connectors.choices import Status
from apps.connectors.client import ConnectorClient, ConnectorDisabled
from apps.connectors.models import Connector
from apps.events.models import OutboxEvent
from tests.connectors.conftest import SECRET

K1 = Fernet.generate_key().decode()
K2 = Fernet.generate_key().decode()


def test_rotate_then_drop_the_old_key(settings, loopback, service, make_connector, capsys):
    settings.WARDEN_SECRETS_KEY = K1
    connector = make_connector(name="rotating", base_url=service.url)
    before = connector.secret
    settings.WARDEN_SECRETS_KEY = f"{K2},{K1}"  # MultiFernet([k2, k1])
    call_command("rotate_secrets", "--tenant", "alpha", "--reason", "yearly key rotation")
    report = json.loads(capsys.readouterr().out)
    assert report["tenants"]["alpha"]["rotated"] >= 1
    assert report["unreadable"] == 0
    connector.refresh_from_db()
    assert connector.secret != before
    settings.WARDEN_SECRETS_KEY = K2  # k1 dropped
    ConnectorClient(connector).get("/x")
    assert service.requests[-1].headers["Authorization"] == f"Bearer {SECRET}"
    event = AuditEvent.objects.filter(action="secrets.rotated").latest("seq")
    assert json.loads(bytes(event.payload))["reason"] == "yearly key rotation"
    assert event.actor_label.startswith("operator:")
    assert SECRET.encode() not in bytes(event.payload)


def test_rotate_secrets_requires_a_reason():
    with pytest.raises(CommandError):
        call_command("rotate_secrets", "--tenant", "alpha")
    with pytest.raises(CommandError):
        call_command("rotate_secrets", "--tenant", "alpha", "--reason", "  ")


def test_a_secret_no_key_decrypts_disables_the_connector_once(settings, loopback, service, make_connector, no_sockets):
    settings.WARDEN_SECRETS_KEY = K1
    connector = make_connector(name="lost", base_url=service.url)
    settings.WARDEN_SECRETS_KEY = K2  # k1 gone without a rotation
    with pytest.raises(ConnectorDisabled) as disabled:
        ConnectorClient(connector).get("/x")
    assert disabled.value.code == "secret_unreadable"
    connector.refresh_from_db()
    assert connector.status == Status.DISABLED
    assert "decrypted" in connector.disabled_reason
    with pytest.raises(ConnectorDisabled):  # no loop: refused at once from now on
        ConnectorClient(connector).get("/x")
    assert AuditEvent.objects.filter(action="connector.disabled").count() == 1
    assert OutboxEvent.objects.filter(event_type="connector.disabled").count() == 1
    assert no_sockets == []


def test_rotation_counts_and_disables_what_it_cannot_read(settings, make_connector, capsys):
    settings.WARDEN_SECRETS_KEY = K1
    connector = make_connector(name="old")
    settings.WARDEN_SECRETS_KEY = K2
    call_command("rotate_secrets", "--tenant", "alpha", "--reason", "rotation after an incident")
    report = json.loads(capsys.readouterr().out)
    assert report["unreadable"] == 1
    assert Connector.objects.get(pk=connector.pk).status == Status.DISABLED


def test_the_admins_are_alerted_in_the_app_when_a_secret_cannot_be_read(settings, loopback, service, make_connector,
                                                                        no_sockets, relay, admin_user, agent_user,
                                                                        web_as):
    """The outbox carries `connector.disabled` to the notifications app: every active
    admin gets one alert naming the connector and what to do; agents get none."""
    from django.utils import translation

    from apps.notifications.models import Notification

    settings.WARDEN_SECRETS_KEY = K1
    connector = make_connector(name="lost", base_url=service.url)
    settings.WARDEN_SECRETS_KEY = K2
    with pytest.raises(ConnectorDisabled):
        ConnectorClient(connector).get("/x")
    relay()
    relay()  # delivered once, whatever runs again
    alerts = Notification.objects.filter(kind="connector_disabled")
    assert [a.recipient for a in alerts] == [admin_user]
    assert alerts[0].context == {"connector": connector.pk, "reason": "secret_unreadable"}  # ids only
    page = web_as(admin_user).get("/notifications/").content.decode()
    assert f"Connector #{connector.pk} was switched off: no configured key decrypts its secret" in page
    from django.urls import reverse

    opened = web_as(admin_user).get(reverse("notifications:open", args=[alerts[0].pk]))
    assert opened.status_code == 302
    assert opened["Location"].endswith(f"/admin/connectors/connector/{connector.pk}/change/")
    with translation.override("pl"):
        page = web_as(admin_user).get("/notifications/", HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert "was switched off" not in page
    assert f"Wyłączono konektor #{connector.pk}" in page
    assert not Notification.objects.filter(recipient=agent_user).exists()
