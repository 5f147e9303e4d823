"""Fixtures and helpers of the GitHub connector tests (fixtures of every test in
tests/connectors through one import in its conftest.py): the fake GitHub on 127.0.0.1,
a GitHub connector calling it with its settings and repository, and webhook deliveries
sent to the hook through Django's test client.

    def test_x(github, gh_connector, gh_ticket, hook):
        github.close_issue("acme/app", 1)
        hook.deliver()                 # what the fake queued, POSTed to /hooks/github/
"""

from __future__ import annotations

import pytest
from django.test import Client

from fakes.github import FakeGitHub
from tests.conftest import TENANT_HOST

# The fixtures (tests/connectors/conftest.py takes them over with one import).
__all__ = ["gh_connector", "gh_ticket", "github", "hook", "linked"]

TOKEN = "ghp_token_of_the_tests_never_shown"
WEBHOOK_SECRET = "whsec-alpha-0123456789abcdef"
REPO = "acme/app"
HOOK_PATH = "/hooks/github/"


def client_transport(client: Client, host: str = TENANT_HOST):
    """A fake-GitHub transport that POSTs the raw body through Django's test client (in
    the test's transaction) and gives the status back."""

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        path = url.split("://", 1)[-1]
        path = path[path.index("/"):]
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        response = client.post(path, data=body, content_type=headers.get("Content-Type", "application/json"),
                               headers=extra, HTTP_HOST=host)
        send.responses.append(response)
        return response.status_code

    send.responses = []
    return send


class Hook:
    """The tenant's hook as the fake GitHub sees it."""

    def __init__(self, fake: FakeGitHub, transport) -> None:
        self.fake = fake
        self.transport = transport

    @property
    def responses(self):
        return self.transport.responses

    def deliver(self) -> list:
        """Send what the fake queued; the hook's answers."""
        sent = self.fake.deliver_pending()
        return self.transport.responses[-len(sent):] if sent else []


@pytest.fixture
def github():
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_repo(REPO)
        yield fake


@pytest.fixture
def gh_connector(loopback, github, make_connector, admin_user, agent_user):
    """A GitHub connector of tenant alpha calling the fake (dry run off), with a webhook
    secret, the agent as its author and the repository acme/app."""
    from apps.connectors import breaker
    from apps.connectors.github.configure import github_repository_add, github_settings_update

    connector = make_connector(kind="github", name="github", base_url=github.url, secret=TOKEN)
    github_settings_update(actor=admin_user, connector=connector, webhook_secret=WEBHOOK_SECRET, act_as=agent_user)
    github_repository_add(actor=admin_user, connector=connector, full_name=REPO)
    breaker.reset(connector.pk)
    yield connector
    breaker.reset(connector.pk)


@pytest.fixture
def hook(github, gh_connector, tenant):
    client = Client()
    transport = client_transport(client)
    github.add_hook(f"http://{TENANT_HOST}{HOOK_PATH}?connector={gh_connector.name}", secret=WEBHOOK_SECRET,
                    transport=transport)
    return Hook(github, transport)


@pytest.fixture
def gh_ticket(tenant, requester_user, settings):
    from apps.tickets import services

    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 0
    return services.ticket_create(actor=requester_user, requester=requester_user, title="VPN drops every hour")


@pytest.fixture
def linked(github, gh_connector, gh_ticket, agent_user):
    """Issue acme/app#1, opened on GitHub, linked to the ticket."""
    from apps.connectors.github.issues import github_issue_link

    github.open_issue(REPO, "VPN drops", "seen by several people")
    github.pending.clear()  # the "opened" delivery is not what the tests are about
    return github_issue_link(actor=agent_user, ticket=gh_ticket, connector=gh_connector, repo=REPO, number=1)


def full_content(tenant) -> None:
    """Switch the tenant (in the test's transaction) to full-content mode."""
    from django.db import connection

    tenant.data_mode = "full_content"
    tenant.save(update_fields=["data_mode"])
    connection.tenant.data_mode = "full_content"


def post_hook(client: Client, body: bytes, *, event: str = "issues", guid: str = "d-1", signature: str | None = None,
              connector: str | None = "github", host: str = TENANT_HOST, content_type: str = "application/json"):
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": guid}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    path = HOOK_PATH + (f"?connector={connector}" if connector else "")
    return client.post(path, data=body, content_type=content_type, headers=headers, HTTP_HOST=host)
