"""Issues from tickets, over real HTTP to the fake GitHub: create (policy, approval, cap,
audit, sent after commit by the task, dry run honoured), link an existing issue, retry
a failed creation without creating a second issue, unlink."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.connectors.github import issues, payloads
from apps.connectors.models import ConnectorCall, GitHubIssueLink
from apps.connectors.models_github import LinkStatus
from apps.core.errors import ApplicationError, Conflict, PermissionDenied
from apps.policies.decisions import PolicyDenied
from apps.policies.models import DecisionLog
from tests.connectors.github_support import REPO, TOKEN, full_content


def _create(agent, ticket, connector, django_capture_on_commit_callbacks, repo=REPO):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        link = issues.github_issue_create(actor=agent, ticket=ticket, connector=connector, repo=repo)
    assert len(callbacks) == 1  # the push task, sent after commit
    return link


def test_an_agent_creates_an_issue_from_a_ticket(github, gh_connector, gh_ticket, agent_user,
                                                 django_capture_on_commit_callbacks):
    link = _create(agent_user, gh_ticket, gh_connector, django_capture_on_commit_callbacks)
    assert (link.status, link.number) == (LinkStatus.PENDING, None)
    assert github.issue(REPO, 1) is None  # nothing sent inside the request
    requested = AuditEvent.objects.get(action="github.issue_create_requested")
    assert requested.payload_data["approval"] == {"required": True, "approved_by": agent_user.pk}
    write = DecisionLog.objects.filter(action="connector.write").latest("pk")
    assert write.allowed is True

    link = issues.github_issue_push(link_id=link.pk)
    assert link.status == LinkStatus.LINKED
    created = github.issue(REPO, 1)
    assert created["title"] == gh_ticket.title
    assert f"Warden ticket #{gh_ticket.number}" in created["body"]
    ref = payloads.find_marker(created["body"])
    assert (ref.tenant, ref.number, ref.key) == ("alpha", gh_ticket.number, f"alpha-github-link-{link.pk}")
    assert (link.number, link.node_id, link.state, link.url) == (1, created["node_id"], "open", created["html_url"])
    assert link.title == ""  # metadata only
    sent = github.requests[-1]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert AuditEvent.objects.filter(action="github.issue_created").latest("seq").payload_data["outcome"] == "created"
    assert ConnectorCall.objects.filter(connector=gh_connector, operation="github.issue_create").count() == 1
    # Pushing again does nothing (the task may be delivered twice).
    assert issues.github_issue_push(link_id=link.pk).status == LinkStatus.LINKED
    assert len(github.issues["acme/app"]) == 1


def test_full_content_tenants_keep_the_title(github, gh_connector, gh_ticket, agent_user, tenant,
                                             django_capture_on_commit_callbacks):
    full_content(tenant)
    link = _create(agent_user, gh_ticket, gh_connector, django_capture_on_commit_callbacks)
    assert issues.github_issue_push(link_id=link.pk).title == gh_ticket.title


def test_a_dry_run_connector_records_and_sends_nothing_until_retried(github, gh_connector, gh_ticket, agent_user,
                                                                     admin_user, django_capture_on_commit_callbacks):
    from apps.connectors.services.connectors import connector_update

    connector_update(actor=admin_user, connector=gh_connector, dry_run=True)
    gh_connector.refresh_from_db()
    link = _create(agent_user, gh_ticket, gh_connector, django_capture_on_commit_callbacks)
    link = issues.github_issue_push(link_id=link.pk)
    assert link.status == LinkStatus.DRY_RUN
    assert github.issues["acme/app"] == []
    assert not [r for r in github.requests if r.method == "POST"]
    connector_update(actor=admin_user, connector=gh_connector, dry_run=False)
    with django_capture_on_commit_callbacks(execute=False):
        issues.github_issue_retry(actor=agent_user, link=link)
    assert issues.github_issue_push(link_id=link.pk).status == LinkStatus.LINKED
    assert len(github.issues["acme/app"]) == 1


def test_a_requester_and_the_system_cannot_create_issues(github, gh_connector, gh_ticket, requester_user):
    with pytest.raises(PolicyDenied):
        issues.github_issue_create(actor=requester_user, ticket=gh_ticket, connector=gh_connector, repo=REPO)
    with pytest.raises(PermissionDenied, match="Only a person"):
        issues.github_issue_create(actor=None, ticket=gh_ticket, connector=gh_connector, repo=REPO)
    assert not GitHubIssueLink.objects.exists()


def test_a_repository_the_connector_does_not_serve_is_refused(github, gh_connector, gh_ticket, agent_user):
    with pytest.raises(ApplicationError) as refused:
        issues.github_issue_create(actor=agent_user, ticket=gh_ticket, connector=gh_connector, repo="acme/other")
    assert "repo" in refused.value.errors
    with pytest.raises(ApplicationError):
        issues.github_issue_create(actor=agent_user, ticket=gh_ticket, connector=gh_connector, repo="../x")


def test_one_issue_per_ticket_and_repository(github, gh_connector, gh_ticket, agent_user,
                                            django_capture_on_commit_callbacks):
    _create(agent_user, gh_ticket, gh_connector, django_capture_on_commit_callbacks)
    with pytest.raises(Conflict):
        issues.github_issue_create(actor=agent_user, ticket=gh_ticket, connector=gh_connector, repo=REPO)


def test_a_rate_limit_is_waited_out_as_retry_after_says(github, gh_connector, gh_ticket, agent_user,
                                                       django_capture_on_commit_callbacks):
    link = _create(agent_user, gh_ticket, gh_connector, django_capture_on_commit_callbacks)
    github.throttle(1, retry_after=2)
    slept = []
    link = issues.github_issue_push(link_id=link.pk, sleep=slept.append)
    assert link.status == LinkStatus.LINKED
    assert slept == [2.0]
    assert len(github.issues["acme/app"]) == 1


def test_a_failed_creation_is_retried_without_a_second_issue(github, gh_connector, gh_ticket, agent_user,
                                                            django_capture_on_commit_callbacks):
    link = _create(agent_user, gh_ticket, gh_connector, django_capture_on_commit_callbacks)
    github.fail(1, status=502)
    link = issues.github_issue_push(link_id=link.pk, sleep=lambda s: None)
    assert link.status == LinkStatus.FAILED
    assert "502" in link.error
    assert len([r for r in github.requests if r.method == "POST"]) == 1  # a POST is not re-sent blindly
    assert AuditEvent.objects.filter(action="github.issue_create_failed").exists()
    # Suppose the 502 came after GitHub had created it: the issue exists with the link's key.
    github.open_issue(REPO, gh_ticket.title, issues.issue_body(ticket_number=gh_ticket.number,
                                                               key=issues.issue_key(link)), by="warden-bot")
    with django_capture_on_commit_callbacks(execute=False):
        issues.github_issue_retry(actor=agent_user, link=link)
    link = issues.github_issue_push(link_id=link.pk)
    assert (link.status, link.number) == (LinkStatus.LINKED, 1)
    assert len(github.issues["acme/app"]) == 1  # adopted, not created again
    assert AuditEvent.objects.filter(action="github.issue_created").latest("seq").payload_data["adopted"] is True


def test_link_an_existing_issue(github, gh_connector, gh_ticket, agent_user, tenant):
    github.open_issue(REPO, "Crash on start", "stack trace ...")
    github.close_issue(REPO, 1, state_reason="completed")
    link = issues.github_issue_link(actor=agent_user, ticket=gh_ticket, connector=gh_connector, repo="ACME/App",
                                    number=1)
    assert (link.repo, link.number, link.state, link.state_reason, link.status) == (
        REPO, 1, "closed", "completed", LinkStatus.LINKED)
    assert link.title == ""
    event = AuditEvent.objects.get(action="github.issue_linked")
    assert event.payload_data["number"] == 1
    with pytest.raises(Conflict):
        issues.github_issue_link(actor=agent_user, ticket=gh_ticket, connector=gh_connector, repo=REPO, number=1)


def test_linking_an_issue_github_does_not_have(github, gh_connector, gh_ticket, agent_user):
    with pytest.raises(ApplicationError) as refused:
        issues.github_issue_link(actor=agent_user, ticket=gh_ticket, connector=gh_connector, repo=REPO, number=99)
    assert "number" in refused.value.errors
    assert not GitHubIssueLink.objects.exists()


def test_linking_when_github_cannot_be_reached(github, gh_connector, gh_ticket, agent_user, settings):
    settings.WARDEN_CONNECTORS_MAX_ATTEMPTS = 1
    github.fail(1, status=503)
    with pytest.raises(ApplicationError) as refused:
        issues.github_issue_link(actor=agent_user, ticket=gh_ticket, connector=gh_connector, repo=REPO, number=1)
    assert refused.value.status == 503


def test_unlink(github, gh_connector, linked, agent_user, requester_user):
    with pytest.raises(PolicyDenied):
        issues.github_issue_unlink(actor=requester_user, link=linked)
    issues.github_issue_unlink(actor=agent_user, link=linked)
    assert not GitHubIssueLink.objects.exists()
    assert AuditEvent.objects.filter(action="github.issue_unlinked").exists()
