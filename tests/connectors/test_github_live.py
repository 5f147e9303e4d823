"""End to end over real sockets: the fake GitHub POSTs a signed delivery to Warden served
by a real WSGI server on 127.0.0.1 (a committed throwaway tenant, its host name in the
Host header); the outbox applies it to the linked ticket."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from django.core.wsgi import get_wsgi_application
from django.db import connections

from fakes.github import FakeGitHub

pytestmark = pytest.mark.slow

TOKEN = "ghp_live_token"
SECRET = "whsec-live-0123456789abcdef"


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def warden_server():
    server: WSGIServer = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=_Quiet)

    def serve() -> None:
        try:
            server.serve_forever(poll_interval=0.1)
        finally:
            connections.close_all()  # this thread's database connection

    thread = threading.Thread(target=serve, name="warden-wsgi", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_real_delivery_reaches_the_hook_and_is_applied(fresh_tenant, loopback, warden_server, relay):
    from apps.accounts.models import Role, User
    from apps.accounts.services import user_create
    from apps.connectors.github.configure import github_repository_add, github_settings_update
    from apps.connectors.github.issues import github_issue_link
    from apps.connectors.models import GitHubDelivery
    from apps.connectors.services.connectors import connector_create
    from apps.tickets import services
    from apps.tickets.models import TicketComment

    slug = fresh_tenant.slug
    admin = User.objects.get(email=f"admin@{slug}.test")
    agent = user_create(email=f"agent@{slug}.test", role=Role.AGENT, password="x" * 20, validate=False)
    requester = user_create(email=f"someone@{slug}.test", role=Role.REQUESTER, password="x" * 20, validate=False)
    with FakeGitHub(token=TOKEN) as github:
        github.add_repo("acme/app")
        github.open_issue("acme/app", "Printer queue stuck")
        connector = connector_create(actor=admin, kind="github", name="github", base_url=github.url, secret=TOKEN,
                                     dry_run=False)
        github_settings_update(actor=admin, connector=connector, webhook_secret=SECRET, act_as=agent,
                               on_issue_closed_status="resolved")
        github_repository_add(actor=admin, connector=connector, full_name="acme/app")
        ticket = services.ticket_create(actor=requester, requester=requester, title="Printing is broken")
        github_issue_link(actor=agent, ticket=ticket, connector=connector, repo="acme/app", number=1)
        github.pending.clear()

        github.add_hook(f"{warden_server}/hooks/github/?connector=github", secret=SECRET, host=f"{slug}.localhost")
        github.close_issue("acme/app", 1, by="octocat")
        [delivery] = github.deliver_pending()
        assert delivery.attempts == [202]
        github.redeliver(delivery.guid)
        assert delivery.attempts == [202, 200]
        forged = github.add_hook(f"{warden_server}/hooks/github/", secret="not-the-secret-0123456789",
                                 host=f"{slug}.localhost")
        github.comment("acme/app", 1, "news")  # to both hooks: the right secret's and the wrong one's
        sent = {d.hook_id: d.attempts for d in github.deliver_pending()}
        assert sent == {github.hooks[0].id: [202], forged.id: [401]}

    assert relay() >= 1
    assert GitHubDelivery.objects.filter(guid=delivery.guid).get().status == "applied"
    ticket.refresh_from_db()
    assert ticket.status == "resolved"
    assert GitHubDelivery.objects.count() == 2  # the close (once) and the comment; nothing from the wrong secret
    assert TicketComment.objects.filter(ticket=ticket).count() == 2
