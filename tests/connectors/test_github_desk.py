"""The ticket page's GitHub panel, as an agent uses it: create an issue, link an existing
one, unlink; refusals are said on the page and change nothing; requesters get nothing."""

from __future__ import annotations

from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connectors.github import issues
from apps.connectors.models import GitHubIssueLink, GitHubRepository

from .github_support import REPO


def _page(client, ticket):
    response = client.get(reverse("desk:ticket", kwargs={"number": ticket.number}))
    assert response.status_code == 200
    return response.content.decode()


def _post(client, ticket, **data):
    return client.post(reverse("desk:github", kwargs={"number": ticket.number}), data, follow=True)


def test_an_agent_creates_an_issue_from_the_ticket_page(github, gh_connector, gh_ticket, agent_user, web_as,
                                                       django_capture_on_commit_callbacks):
    client = web_as(agent_user)
    page = _page(client, gh_ticket)
    assert 'id="connected"' in page
    assert REPO in page
    assert "No issue is linked." in page
    repository = GitHubRepository.objects.get(full_name=REPO)
    with django_capture_on_commit_callbacks(execute=False):
        response = _post(client, gh_ticket, action="create", repository=repository.pk)
    assert response.status_code == 200
    assert "is being created" in response.content.decode()
    link = GitHubIssueLink.objects.get(ticket=gh_ticket)
    issues.github_issue_push(link_id=link.pk)  # what the task does after commit
    page = _page(client, gh_ticket)
    assert f"{REPO}#1" in page
    assert github.issue(REPO, 1)["title"] == gh_ticket.title
    assert AuditEvent.objects.filter(action="github.issue_create_requested", actor_id=agent_user.pk).exists()


def test_an_agent_links_and_unlinks_an_existing_issue(github, gh_connector, gh_ticket, agent_user, web_as):
    github.open_issue(REPO, "Printer queue stuck", "")
    client = web_as(agent_user)
    repository = GitHubRepository.objects.get(full_name=REPO)
    page = _post(client, gh_ticket, action="link", repository=repository.pk, issue="1").content.decode()
    assert f"Linked to {REPO}#1." in page
    link = GitHubIssueLink.objects.get(ticket=gh_ticket)
    assert (link.number, link.state) == (1, "open")
    page = _post(client, gh_ticket, action="unlink", link=link.pk).content.decode()
    assert "the issue stays on GitHub" in page
    assert not GitHubIssueLink.objects.exists()
    assert github.issue(REPO, 1) is not None


def test_refusals_are_said_on_the_page_and_change_nothing(github, gh_connector, gh_ticket, agent_user, web_as):
    client = web_as(agent_user)
    repository = GitHubRepository.objects.get(full_name=REPO)
    page = _post(client, gh_ticket, action="link", repository=repository.pk, issue="42").content.decode()
    assert "GitHub has no issue #42" in page
    page = _post(client, gh_ticket, action="link", repository=repository.pk, issue="abc").content.decode()
    assert "An issue number is a positive number." in page
    page = _post(client, gh_ticket, action="create", repository="999999").content.decode()
    assert "Choose one of the repositories." in page
    assert _post(client, gh_ticket, action="unlink", link="999999").status_code == 404
    assert not GitHubIssueLink.objects.exists()


def test_requesters_cannot_reach_the_panel_or_its_actions(github, gh_connector, gh_ticket, requester_user, web_as):
    client = web_as(requester_user)
    repository = GitHubRepository.objects.get(full_name=REPO)
    response = client.post(reverse("desk:github", kwargs={"number": gh_ticket.number}),
                           {"action": "create", "repository": repository.pk})
    assert response.status_code in (302, 403, 404)
    assert not GitHubIssueLink.objects.exists()
    assert github.requests == [] or all(r.method == "GET" for r in github.requests)
