"""The GitHub connector in the tenant's admin: settings saved through the services (the
webhook secret write-only, the hook URL shown), repositories added and removed, links
and deliveries read-only; tenant admins only."""

from __future__ import annotations

from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connectors.models import GitHubDelivery, GitHubRepository, GitHubSettings
from tests.connectors.github_support import REPO, TOKEN, WEBHOOK_SECRET


def test_settings_page_shows_the_hook_url_and_never_the_secret(gh_connector, web_as, admin_user):
    page = web_as(admin_user).get(reverse("admin:connectors_githubsettings_change", args=[gh_connector.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "/hooks/github/?connector=github" in html
    assert "set (not shown)" in html
    row = GitHubSettings.objects.get(pk=gh_connector.pk)
    for secret in (WEBHOOK_SECRET, TOKEN, row.webhook_secret):
        assert secret not in html


def test_settings_are_saved_through_the_services(gh_connector, web_as, admin_user, agent_user):
    client = web_as(admin_user)
    url = reverse("admin:connectors_githubsettings_change", args=[gh_connector.pk])
    response = client.post(url, {"act_as": agent_user.pk, "installation_id": "", "on_issue_closed_status": "resolved",
                                 "comment_visibility": "public", "new_webhook_secret": "a-brand-new-secret-value"})
    assert response.status_code == 302, response.content[:500]
    row = GitHubSettings.objects.get(pk=gh_connector.pk)
    assert (row.on_issue_closed_status, row.comment_visibility) == ("resolved", "public")
    event = AuditEvent.objects.filter(action="github.settings_changed").latest("seq")
    assert event.payload_data["webhook_signing_key_replaced"] is True
    assert "a-brand-new-secret-value" not in event.payload_text
    # A short secret is a form error, nothing saved.
    response = client.post(url, {"act_as": agent_user.pk, "comment_visibility": "public", "new_webhook_secret": "short"})
    assert response.status_code == 200
    assert "at least 16 characters" in response.content.decode()


def test_repositories_are_added_and_removed_through_the_services(gh_connector, web_as, admin_user):
    client = web_as(admin_user)
    response = client.post(reverse("admin:connectors_githubrepository_add"),
                           {"connector": gh_connector.pk, "full_name": "Acme/Other"})
    assert response.status_code == 302
    added = GitHubRepository.objects.get(full_name="acme/other")
    assert AuditEvent.objects.filter(action="github.repository_added").exists()
    response = client.post(reverse("admin:connectors_githubrepository_delete", args=[added.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not GitHubRepository.objects.filter(pk=added.pk).exists()
    assert GitHubRepository.objects.filter(full_name=REPO).exists()


def test_links_and_deliveries_are_read_only_and_for_tenant_admins(gh_connector, linked, web_as, admin_user,
                                                                 agent_user):
    GitHubDelivery.objects.create(connector=gh_connector, guid="g-1", event="issues", action="closed", repo=REPO,
                                  number=1, status="applied")
    admin_client = web_as(admin_user)
    for name in ("githubissuelink", "githubdelivery"):
        listing = admin_client.get(reverse(f"admin:connectors_{name}_changelist"))
        assert listing.status_code == 200
        assert admin_client.get(reverse(f"admin:connectors_{name}_add")).status_code == 403
    page = admin_client.get(reverse("admin:connectors_githubissuelink_change", args=[linked.pk]))
    assert 'name="_save"' not in page.content.decode()
    agent_client = web_as(agent_user)
    assert agent_client.get(reverse("admin:connectors_githubdelivery_changelist")).status_code in (302, 403)
