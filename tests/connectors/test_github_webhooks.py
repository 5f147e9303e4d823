"""`/hooks/github/`: signature first (401 and nothing written when it does not match),
deliveries stored once per X-GitHub-Delivery with their outbox event and answered
202, then applied to the linked ticket by the outbox subscriber; status mapping,
visibility, metadata-only content, and deliveries that name another organisation's
ticket (refused and audited where they arrived, the other organisation untouched)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.connectors.github import signature
from apps.connectors.github.configure import github_settings_update
from apps.connectors.github.inbound import github_delivery_process
from apps.connectors.models import GitHubAppliedComment, GitHubDelivery
from apps.connectors.models_github import DeliveryStatus
from apps.events.models import Delivery, OutboxEvent
from apps.policies.models import DecisionLog
from apps.tickets.models import Ticket, TicketComment
from tests.conftest import OTHER_HOST, TENANT_HOST
from tests.connectors.github_support import REPO, WEBHOOK_SECRET, client_transport, full_content, post_hook


def _payload(action="closed", number=1, body="", state="closed", state_reason="completed", repo=REPO, **extra):
    issue = {"number": number, "node_id": f"I_{number}", "html_url": f"https://github.com/{repo}/issues/{number}",
             "state": state, "state_reason": state_reason if state == "closed" else None, "title": "VPN drops",
             "body": body, "updated_at": "2030-01-01T10:00:00Z", "repository_url": f"https://api.github.com/repos/{repo}"}
    return json.dumps({"action": action, "issue": issue, "repository": {"full_name": repo},
                       "sender": {"login": "octocat"}, **extra}).encode()


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def _counts() -> tuple[int, ...]:
    return (GitHubDelivery.objects.count(), OutboxEvent.objects.count(), Delivery.objects.count(),
            AuditEvent.objects.count(), DecisionLog.objects.count(), TicketComment.objects.count())


@pytest.mark.parametrize("header", [None, "", "sha256=" + "0" * 64, "sha1=abc", "sha256=not-hex"])
def test_a_missing_or_bad_signature_is_401_and_writes_nothing(gh_connector, linked, header):
    body = _payload()
    before = _counts()
    with CaptureQueriesContext(connection) as queries:
        response = post_hook(Client(), body, signature=header)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 401
    assert problem["title"]
    assert "X-Hub-Signature-256" in problem["detail"]
    assert _writes(queries.captured_queries) == []
    assert _counts() == before


def test_a_signature_made_with_another_secret_or_for_another_body_is_401(gh_connector, linked):
    body = _payload()
    assert post_hook(Client(), body, signature=signature.sign("another-secret-0123456789", body)).status_code == 401
    assert post_hook(Client(), body, signature=signature.sign(WEBHOOK_SECRET, body + b" ")).status_code == 401
    assert post_hook(Client(), body, signature=signature.sign(WEBHOOK_SECRET, body), connector="nope").status_code == 401
    assert GitHubDelivery.objects.count() == 0


def test_a_good_delivery_is_stored_with_its_event_answered_202_then_applied(gh_connector, linked, gh_ticket, relay):
    body = _payload()
    response = post_hook(Client(), body, guid="guid-1", signature=signature.sign(WEBHOOK_SECRET, body))
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "delivery": "guid-1"}
    delivery = GitHubDelivery.objects.get()
    assert (delivery.status, delivery.event, delivery.action, delivery.repo, delivery.number) == (
        "received", "issues", "closed", REPO, 1)
    event = OutboxEvent.objects.get(event_type="github.delivery_received")
    assert event.payload == {"delivery_id": delivery.pk, "connector_id": gh_connector.pk}
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 0  # not applied in the request
    relay()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.APPLIED
    comment = TicketComment.objects.get(ticket=gh_ticket)
    assert comment.internal is True  # the default: an internal note
    assert comment.author.email == "agent@alpha.test"
    assert f"`{REPO}#1`" in comment.body
    assert "closed (completed)" in comment.body
    assert "`octocat`" in comment.body
    gh_ticket.refresh_from_db()
    assert gh_ticket.status == "new"  # no status mapping set
    linked.refresh_from_db()
    assert linked.state == "closed"


def test_without_connector_parameter_the_secret_finds_the_connector(gh_connector, linked):
    body = _payload()
    response = post_hook(Client(), body, signature=signature.sign(WEBHOOK_SECRET, body), connector=None)
    assert response.status_code == 202
    assert GitHubDelivery.objects.get().connector_id == gh_connector.pk


def test_a_duplicate_delivery_is_processed_once(github, gh_connector, linked, gh_ticket, hook, relay):
    github.comment(REPO, 1, "Fixed in 2.3.1")
    [first] = hook.deliver()
    assert first.status_code == 202
    again = github.redeliver(github.deliveries[-1].guid)  # same X-GitHub-Delivery
    assert again.attempts == [202, 200]
    assert hook.responses[-1].json()["status"] == "duplicate"
    relay()
    relay()
    assert GitHubDelivery.objects.count() == 1
    assert OutboxEvent.objects.filter(event_type="github.delivery_received").count() == 1
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 1
    # Processing the same delivery again changes nothing either.
    delivery = GitHubDelivery.objects.get()
    assert github_delivery_process(delivery_id=delivery.pk) == DeliveryStatus.APPLIED
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 1


def test_the_same_comment_in_two_deliveries_is_applied_once(github, gh_connector, linked, gh_ticket, hook, relay):
    github.comment(REPO, 1, "Looking into it")
    delivery = github.pending[0]
    hook.deliver()
    # GitHub sends the same change under a new delivery id (a second hook, a re-send).
    body = delivery.body
    post_hook(Client(), body, event="issue_comment", guid="another-guid", signature=signature.sign(WEBHOOK_SECRET, body))
    relay()
    assert GitHubDelivery.objects.count() == 2
    assert sorted(GitHubDelivery.objects.values_list("status", flat=True)) == ["applied", "ignored"]
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 1
    assert GitHubAppliedComment.objects.get().source == "webhook"


def test_a_closed_issue_resolves_the_ticket_when_the_tenant_maps_it(github, gh_connector, linked, gh_ticket, hook,
                                                                    relay, admin_user):
    github_settings_update(actor=admin_user, connector=gh_connector, on_issue_closed_status="resolved",
                           comment_visibility="public")
    github.close_issue(REPO, 1, state_reason="not_planned")
    hook.deliver()
    relay()
    gh_ticket.refresh_from_db()
    assert gh_ticket.status == "resolved"
    assert gh_ticket.resolution_code == "wont_fix"
    assert "acme/app#1" in gh_ticket.resolution_note
    comment = TicketComment.objects.get(ticket=gh_ticket)
    assert comment.internal is False
    assert AuditEvent.objects.filter(action="ticket.transitioned", target_id=str(gh_ticket.pk)).exists()
    # Reopened on GitHub: a note, the ticket stays resolved (only closing is mapped).
    github.reopen_issue(REPO, 1)
    hook.deliver()
    relay()
    gh_ticket.refresh_from_db()
    assert gh_ticket.status == "resolved"
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 2


def test_a_status_the_workflow_refuses_leaves_the_ticket_and_says_why(github, gh_connector, linked, gh_ticket, hook,
                                                                      relay, admin_user, agent_user):
    from apps.tickets import services

    github_settings_update(actor=admin_user, connector=gh_connector, on_issue_closed_status="pending")
    services.ticket_transition(actor=agent_user, ticket=gh_ticket, to="cancelled", reason="duplicate of #9")
    github.close_issue(REPO, 1)
    hook.deliver()
    relay()
    gh_ticket.refresh_from_db()
    assert gh_ticket.status == "cancelled"
    delivery = GitHubDelivery.objects.get()
    assert delivery.status == DeliveryStatus.APPLIED
    assert "cannot move" in delivery.detail
    assert TicketComment.objects.filter(ticket=gh_ticket, internal=True).count() == 1


def test_comments_keep_metadata_only_unless_the_tenant_keeps_full_content(github, gh_connector, linked, gh_ticket,
                                                                         hook, relay, tenant):
    github.comment(REPO, 1, "Secret detail: the token is in the log")
    hook.deliver()
    relay()
    comment = TicketComment.objects.get(ticket=gh_ticket)
    assert "Secret detail" not in comment.body
    assert "`octocat` commented on" in comment.body
    assert "Secret detail" not in json.dumps(GitHubDelivery.objects.get().data)

    full_content(tenant)
    github.comment(REPO, 1, "Workaround: @agent restart the **client**", by="hubot")
    hook.deliver()
    relay()
    latest = TicketComment.objects.filter(ticket=gh_ticket).latest("pk")
    assert "> Workaround: @\u2060agent restart the **client**" in latest.body
    assert latest.mentions.count() == 0  # a GitHub @name never mentions a Warden user
    # The delivery keeps no text once applied.
    assert "Workaround" not in json.dumps(GitHubDelivery.objects.latest("pk").data)


def test_a_comment_on_a_closed_ticket_becomes_an_internal_note(github, gh_connector, linked, gh_ticket, hook, relay,
                                                               admin_user, agent_user):
    from apps.tickets import services

    github_settings_update(actor=admin_user, connector=gh_connector, comment_visibility="public")
    services.ticket_transition(actor=agent_user, ticket=gh_ticket, to="cancelled", reason="not needed")
    github.comment(REPO, 1, "late news")
    hook.deliver()
    relay()
    comment = TicketComment.objects.get(ticket=gh_ticket)
    assert comment.internal is True
    assert "internal note" in GitHubDelivery.objects.get().detail


def test_a_form_encoded_delivery_is_accepted(github, gh_connector, linked, gh_ticket, relay, tenant):
    transport_client = Client()
    github.add_hook(f"http://{TENANT_HOST}/hooks/github/?connector=github", secret=WEBHOOK_SECRET,
                    transport=client_transport(transport_client), content_type="form")
    github.close_issue(REPO, 1)
    [delivery] = github.deliver_pending()
    assert delivery.attempts == [202]
    relay()
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 1


def test_ping_and_events_warden_does_not_use_are_answered_and_not_stored(github, gh_connector, hook):
    ping = github.ping(github.hooks[0])
    assert ping.attempts == [200]
    assert hook.responses[-1].json() == {"status": "pong", "connector": "github"}
    github.open_issue(REPO, "opened on GitHub")  # issues.opened: not acted on
    [answer] = hook.deliver()
    assert answer.status_code == 202
    assert answer.json()["status"] == "ignored"
    body = b'{"ref": "refs/heads/main"}'
    response = post_hook(Client(), body, event="push", signature=signature.sign(WEBHOOK_SECRET, body))
    assert response.status_code == 202
    assert GitHubDelivery.objects.count() == 0
    assert OutboxEvent.objects.filter(event_type="github.delivery_received").count() == 0


def test_malformed_verified_deliveries_are_400(gh_connector):
    body = b"{not json"
    response = post_hook(Client(), body, signature=signature.sign(WEBHOOK_SECRET, body))
    assert response.status_code == 400
    body = json.dumps({"action": "closed", "repository": {"full_name": "../etc"}, "issue": {}}).encode()
    assert post_hook(Client(), body, signature=signature.sign(WEBHOOK_SECRET, body)).status_code == 400
    body = _payload()
    assert post_hook(Client(), body, guid="bad guid!", signature=signature.sign(WEBHOOK_SECRET, body)).status_code == 400
    assert GitHubDelivery.objects.count() == 0


def test_a_delivery_larger_than_the_limit_is_413(gh_connector, settings):
    settings.WARDEN_GITHUB_WEBHOOK_MAX_BYTES = 100
    body = _payload(body="x" * 200)
    response = post_hook(Client(), body, signature=signature.sign(WEBHOOK_SECRET, body))
    assert response.status_code == 413
    assert GitHubDelivery.objects.count() == 0


def test_a_disabled_connector_answers_503_and_stores_nothing(gh_connector, admin_user):
    from apps.connectors.services.connectors import connector_update

    connector_update(actor=admin_user, connector=gh_connector, enabled=False)
    body = _payload()
    response = post_hook(Client(), body, signature=signature.sign(WEBHOOK_SECRET, body))
    assert response.status_code == 503
    assert GitHubDelivery.objects.count() == 0


def test_the_hook_takes_only_post(gh_connector):
    response = Client().get("/hooks/github/", HTTP_HOST=TENANT_HOST)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def _refusals(reason: str):
    return [e for e in AuditEvent.objects.filter(action="github.delivery_refused") if e.payload_data.get("reason") == reason]


def test_a_repository_the_connector_does_not_serve_is_refused_and_audited(gh_connector, linked, relay):
    body = _payload(repo="evil/fork")
    post_hook(Client(), body, signature=signature.sign(WEBHOOK_SECRET, body))
    relay()
    delivery = GitHubDelivery.objects.get()
    assert delivery.status == DeliveryStatus.REFUSED
    [event] = _refusals("repository_not_served")
    assert event.payload_data["repo"] == "evil/fork"
    assert TicketComment.objects.count() == 0


def test_another_installation_is_refused(gh_connector, linked, relay, admin_user):
    github_settings_update(actor=admin_user, connector=gh_connector, installation_id=42)
    body = _payload(installation={"id": 43})
    post_hook(Client(), body, signature=signature.sign(WEBHOOK_SECRET, body))
    relay()
    assert GitHubDelivery.objects.get().status == DeliveryStatus.REFUSED
    assert _refusals("installation_mismatch")


def test_an_issue_naming_an_unlinked_ticket_of_this_tenant_is_refused(gh_connector, gh_ticket, relay):
    body = _payload(number=7, body=f"<!-- warden:ticket alpha#{gh_ticket.number} key=x -->")
    post_hook(Client(), body, signature=signature.sign(WEBHOOK_SECRET, body))
    relay()
    assert GitHubDelivery.objects.get().status == DeliveryStatus.REFUSED
    [event] = _refusals("not_linked")
    assert event.payload_data["named_ticket"] == gh_ticket.number
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 0


def test_an_unlinked_issue_without_a_marker_is_ignored(gh_connector, gh_ticket, relay):
    body = _payload(number=9)
    post_hook(Client(), body, signature=signature.sign(WEBHOOK_SECRET, body))
    relay()
    assert GitHubDelivery.objects.get().status == DeliveryStatus.IGNORED
    assert not AuditEvent.objects.filter(action="github.delivery_refused").exists()


def test_a_delivery_for_acme_naming_a_globex_ticket_changes_nothing_there_and_is_audited_here(
        tenant, other_tenant, github, gh_connector, relay, loopback):
    """Acme is tenant alpha, globex is tenant beta: both serve the same repository, and
    globex's ticket is linked to issue acme/app#1. A delivery arrives on acme's host,
    signed with acme's secret, for that issue, whose marker names globex's ticket."""
    from apps.accounts.models import User
    from apps.connectors.github.configure import github_repository_add
    from apps.connectors.github.issues import github_issue_link
    from apps.connectors.services.connectors import connector_create
    from apps.tickets import services

    github.open_issue(REPO, "VPN drops")
    # Globex (beta): its own connector, ticket and link.
    connection.set_tenant(other_tenant)
    beta_admin = User.objects.get(email="admin@beta.test")
    beta_agent = User.objects.get(email="agent@beta.test")
    beta_requester = User.objects.get(email="requester@beta.test")
    beta_connector = connector_create(actor=beta_admin, kind="github", name="github", base_url=github.url,
                                      secret="ghp_beta", dry_run=False)
    github.add_token("ghp_beta", "globex-bot")
    github_settings_update(actor=beta_admin, connector=beta_connector, webhook_secret="whsec-beta-0123456789abcdef",
                           act_as=beta_agent, on_issue_closed_status="resolved")
    github_repository_add(actor=beta_admin, connector=beta_connector, full_name=REPO)
    globex_ticket = services.ticket_create(actor=beta_requester, requester=beta_requester, title="Globex VPN")
    github_issue_link(actor=beta_agent, ticket=globex_ticket, connector=beta_connector, repo=REPO, number=1)
    globex_before = {
        "status": Ticket.objects.get(pk=globex_ticket.pk).status,
        "comments": TicketComment.objects.count(),
        "audit": AuditEvent.objects.count(),
        "deliveries": GitHubDelivery.objects.count(),
        "outbox": OutboxEvent.objects.count(),
    }
    # Acme (alpha) receives the delivery.
    connection.set_tenant(tenant)
    body = _payload(number=1, body=f"<!-- warden:ticket beta#{globex_ticket.number} key=beta-github-link-1 -->")
    response = post_hook(Client(), body, guid="cross-1", signature=signature.sign(WEBHOOK_SECRET, body))
    assert response.status_code == 202
    # The same delivery signed with acme's secret but sent to globex's host is refused there.
    assert post_hook(Client(), body, guid="cross-2", host=OTHER_HOST,
                     signature=signature.sign(WEBHOOK_SECRET, body)).status_code == 401
    connection.set_tenant(tenant)
    relay()
    delivery = GitHubDelivery.objects.get(guid="cross-1")
    assert delivery.status == DeliveryStatus.REFUSED
    [event] = _refusals("another_organisation")
    assert event.payload_data["named_tenant"] == "beta"
    assert event.payload_data["named_ticket"] == globex_ticket.number
    assert event.target_id == str(gh_connector.pk)
    assert TicketComment.objects.count() == 0
    # Globex is unchanged.
    connection.set_tenant(other_tenant)
    assert {
        "status": Ticket.objects.get(pk=globex_ticket.pk).status,
        "comments": TicketComment.objects.count(),
        "audit": AuditEvent.objects.count(),
        "deliveries": GitHubDelivery.objects.count(),
        "outbox": OutboxEvent.objects.count(),
    } == globex_before
    connection.set_tenant(tenant)
