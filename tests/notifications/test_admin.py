"""Tenant admins configure notifications in the admin: rules, templates (a broken one is
refused on save, with a preview of a good one), the Slack token (write-only)."""

from __future__ import annotations

from apps.audit.models import AuditEvent
from apps.notifications.models import NotificationRule, SlackWorkspace, TemplateOverride


def test_a_rule_is_changed_through_the_service_and_audited(tenant, admin_user, web_as):
    rule = NotificationRule.objects.get(kind="ticket_resolved")
    client = web_as(admin_user)
    response = client.post(f"/admin/notifications/notificationrule/{rule.pk}/change/",
                           {"recipients": ["requester"], "enabled": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    rule.refresh_from_db()
    assert rule.recipients == ["requester"]
    event = AuditEvent.objects.filter(action="notification.rule_changed").latest("seq")
    assert event.payload_data["to"] == {"recipients": ["requester"], "enabled": True}


def test_a_broken_template_is_refused_on_save_never_at_send_time(tenant, admin_user, web_as):
    client = web_as(admin_user)
    broken = client.post("/admin/notifications/templateoverride/add/", {
        "kind": "public_reply", "channel": "email", "language": "en", "subject": "", "body": "{% if %}broken",
    })
    assert broken.status_code == 200
    assert "The template does not work" in broken.content.decode()
    assert not TemplateOverride.objects.exists()
    good = client.post("/admin/notifications/templateoverride/add/", {
        "kind": "public_reply", "channel": "email", "language": "en", "subject": "",
        "body": "{{ actor }} answered on #{{ number }} <script>",
    })
    assert good.status_code == 302
    template = TemplateOverride.objects.get()
    page = client.get(f"/admin/notifications/templateoverride/{template.pk}/change/").content.decode()
    assert "Ola Kowalska answered on #42 &lt;script&gt;" in page  # the preview, escaped


def test_the_slack_token_is_write_only(tenant, admin_user, web_as):
    from apps.core import secrets

    SlackWorkspace.objects.create(pk=1, name="Acme", bot_token=secrets.encrypt("xoxb-secret-value"))
    page = web_as(admin_user).get("/admin/notifications/slackworkspace/1/change/").content.decode()
    assert "xoxb-secret-value" not in page
    assert "set (not shown)" in page
    assert SlackWorkspace.objects.get().bot_token not in page  # not even encrypted
