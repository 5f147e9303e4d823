"""Approvals in Slack over HTTP, against the fake Slack Web API on 127.0.0.1: the card is
posted when a proposal is made and updated when it is decided anywhere; a click is
checked (signature on the raw body, 300 s), applied once however often it arrives, and
decided as the mapped Warden user with the policy asked again; refusals are told to the
clicking person and audited."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from django.test import Client
from slack_sdk.signature import SignatureVerifier

from apps.audit.models import AuditEvent
from apps.notifications.models import SlackWorkspace
from apps.notifications.services.slack import slack_approvals_configure, slack_connect
from apps.tickets import services as tickets
from apps.triage import services
from apps.triage.choices import ProposalStatus
from apps.triage.models import Decision, Proposal, SlackCard, SlackInteraction
from tests.fakes.slack import FakeSlack

pytestmark = pytest.mark.django_db

TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A1-test"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
HOST = "alpha.localhost"
INTERACTIVITY = "/hooks/slack/interactivity/"


@pytest.fixture
def slack(tenant, admin_user, settings):
    with FakeSlack(users={"agent@alpha.test": "UAGENT", "requester@alpha.test": "UREQ"}, token=TOKEN,
                   app_token=APP_TOKEN) as fake:
        settings.WARDEN_SLACK_API_URL = fake.url
        slack_connect(actor=admin_user, bot_token=TOKEN)
        slack_approvals_configure(actor=admin_user, signing_secret=SIGNING_SECRET, app_token=APP_TOKEN,
                                  approvals_channel="CAPPROVE")
        yield fake


@pytest.fixture
def proposed(slack, make_rule, new_ticket, relay):
    """A waiting proposal whose card was posted to the approvals channel."""
    make_rule()
    ticket = new_ticket()
    relay()
    return ticket, Proposal.objects.get(ticket=ticket)


def click_body(proposal, *, action="triage_approve", user="UAGENT", version=None, separators=None) -> bytes:
    payload = {
        "type": "block_actions", "user": {"id": user, "username": "someone"}, "team": {"id": "T1"},
        "channel": {"id": "CAPPROVE"}, "trigger_id": "1.2.abc", "response_url": "",
        "actions": [{"action_id": action, "block_id": f"triage:{proposal.pk}", "action_ts": "1700000000.000100",
                     "value": f"{proposal.pk}:{version if version is not None else proposal.version}"}],
    }
    return urlencode({"payload": json.dumps(payload, separators=separators)}).encode()


def signed_post(body: bytes, *, path: str = INTERACTIVITY, timestamp: int | None = None,
                secret: str = SIGNING_SECRET, signed_body: bytes | None = None,
                content_type: str = "application/x-www-form-urlencoded"):
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=signed_body or body)
    return Client(HTTP_HOST=HOST).generic("POST", path, data=body, content_type=content_type,
                                          HTTP_X_SLACK_SIGNATURE=signature, HTTP_X_SLACK_REQUEST_TIMESTAMP=stamp)


# --- Settings ---------------------------------------------------------------------------------


def test_the_signing_secret_and_app_token_are_kept_encrypted_and_never_audited(slack, caplog):
    workspace = SlackWorkspace.objects.get()
    assert workspace.signing_secret
    assert SIGNING_SECRET not in workspace.signing_secret
    assert workspace.app_token
    assert APP_TOKEN not in workspace.app_token
    assert workspace.approvals_channel == "CAPPROVE"
    event = AuditEvent.objects.filter(action="notification.slack_approvals_configured").latest("seq")
    assert event.payload_data["signing"] == "set"  # named (audit redacts *secret*/*token* keys), never the value
    assert event.payload_data["app_level"] == "set"
    assert SIGNING_SECRET not in event.payload_text
    assert APP_TOKEN not in event.payload_text
    assert SIGNING_SECRET not in caplog.text
    assert APP_TOKEN not in caplog.text


def test_a_wrong_app_token_or_channel_name_is_refused(slack, admin_user):
    from apps.core.errors import ApplicationError

    with pytest.raises(ApplicationError, match="xapp-"):
        slack_approvals_configure(actor=admin_user, app_token="xoxb-not-an-app-token")
    with pytest.raises(ApplicationError, match="channel's id"):
        slack_approvals_configure(actor=admin_user, approvals_channel="#approvals")


def test_only_admins_configure_slack_approvals(slack, agent_user):
    from apps.policies.decisions import PolicyDenied

    with pytest.raises(PolicyDenied):
        slack_approvals_configure(actor=agent_user, approvals_channel="COTHER")


# --- The card ---------------------------------------------------------------------------------


def test_a_card_is_posted_when_a_proposal_is_made(proposed, slack, tenant):
    ticket, proposal = proposed
    assert len(slack.posts) == 1
    channel, text, blocks, _token = slack.posts[0]
    assert channel == "CAPPROVE"
    assert f"#{ticket.number}" in text
    dumped = json.dumps(blocks)
    assert ticket.title not in dumped  # a metadata-only tenant: the number, never the title
    assert "Ops" in dumped
    assert "Printers to Ops" in dumped
    buttons = {b["action_id"]: b for block in blocks if block["type"] == "actions" for b in block["elements"]}
    assert buttons["triage_approve"]["value"] == f"{proposal.pk}:{proposal.version}"
    assert buttons["triage_reject"]["value"] == f"{proposal.pk}:{proposal.version}"
    assert buttons["triage_edit"]["url"] == tenant.url("/desk/triage/")
    card = SlackCard.objects.get(proposal=proposal)
    assert (card.channel, card.ts, card.version) == ("CAPPROVE", "1.000", 1)


def test_a_full_content_tenant_shows_the_title(slack, make_rule, new_ticket, relay, tenant):
    from apps.tenants.models import DataMode

    tenant.data_mode = DataMode.FULL_CONTENT  # this connection's tenant object only (rolled back with the test)
    make_rule()
    ticket = new_ticket()
    relay()
    assert ticket.title in json.dumps(slack.posts[0][2])


def test_a_decision_in_the_web_updates_the_card(proposed, slack, agent_user, relay):
    ticket, proposal = proposed
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    assert slack.updates, "chat.update was not called"
    channel, ts, text, blocks = slack.updates[-1]
    assert (channel, ts) == ("CAPPROVE", "1.000")
    dumped = json.dumps(blocks)
    assert "Approved by" in dumped
    assert "Desk" in dumped
    assert "triage_approve" not in dumped  # no buttons left to click
    assert SlackCard.objects.get(proposal=proposal).state == "decided"


# --- Clicks over HTTP -------------------------------------------------------------------------


def test_a_click_approves_as_the_mapped_warden_user_and_the_card_follows(proposed, slack, agent_user, relay):
    ticket, proposal = proposed
    response = signed_post(click_body(proposal))
    assert response.status_code == 200
    decision = Decision.objects.get(proposal=proposal)
    assert (decision.verdict, decision.channel, decision.decided_by) == ("approve", "slack", agent_user)
    relay()
    assert "Approved by" in json.dumps(slack.updates[-1][3])


def test_a_reject_from_slack_uses_a_fixed_reason(proposed, slack):
    ticket, proposal = proposed
    assert signed_post(click_body(proposal, action="triage_reject")).status_code == 200
    decision = Decision.objects.get(proposal=proposal)
    assert (decision.verdict, decision.reason) == ("reject", "Rejected in Slack")


def test_a_bad_signature_is_401_and_nothing_is_written(proposed, slack):
    ticket, proposal = proposed
    response = signed_post(click_body(proposal), secret="0" * 32)
    assert response.status_code == 401
    assert not SlackInteraction.objects.exists()
    assert not Decision.objects.filter(proposal=proposal).exists()


def test_a_missing_signature_is_401(proposed):
    ticket, proposal = proposed
    response = Client(HTTP_HOST=HOST).post(INTERACTIVITY, data=click_body(proposal),
                                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 401


def test_a_request_older_than_300_seconds_is_401(proposed, slack):
    ticket, proposal = proposed
    response = signed_post(click_body(proposal), timestamp=int(time.time()) - 301)
    assert response.status_code == 401
    assert not Decision.objects.filter(proposal=proposal).exists()


def test_a_reserialised_body_is_401(proposed, slack):
    ticket, proposal = proposed
    original = click_body(proposal)
    same_json_other_bytes = click_body(proposal, separators=(",", ":"))
    assert original != same_json_other_bytes
    response = signed_post(same_json_other_bytes, signed_body=original)
    assert response.status_code == 401
    assert not Decision.objects.filter(proposal=proposal).exists()


def test_the_same_request_twice_is_applied_once(proposed, slack, relay):
    ticket, proposal = proposed
    body = click_body(proposal)
    first = signed_post(body)
    again = signed_post(body)  # Slack's retry: the same body (a new timestamp and signature)
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first["X-Warden-Outcome"], again["X-Warden-Outcome"]) == ("applied", "duplicate")
    assert Decision.objects.filter(proposal=proposal).count() == 1
    assert SlackInteraction.objects.count() == 1
    assert AuditEvent.objects.filter(action="triage.proposal_approved").count() == 1
    assert not slack.ephemerals  # the replay told nobody "already decided"


def test_a_requesters_click_is_denied_told_and_audited(proposed, slack):
    ticket, proposal = proposed
    response = signed_post(click_body(proposal, user="UREQ"))
    assert response.status_code == 200
    assert response["X-Warden-Outcome"] == "refused"
    assert not Decision.objects.filter(proposal=proposal).exists()
    assert Proposal.objects.get(pk=proposal.pk).status == ProposalStatus.PENDING
    channel, user, text = slack.ephemerals[-1]
    assert (channel, user) == ("CAPPROVE", "UREQ")
    assert "Not allowed" in text
    event = AuditEvent.objects.filter(action="triage.slack_refused").latest("seq")
    assert event.payload_data["why"] == "policy"
    assert event.payload_data["slack_user"] == "UREQ"
    assert event.actor_label == "requester@alpha.test"


def test_an_unknown_slack_user_is_refused_told_and_audited(proposed, slack):
    ticket, proposal = proposed
    response = signed_post(click_body(proposal, user="UNOBODY"))
    assert response["X-Warden-Outcome"] == "unmapped"
    assert not Decision.objects.filter(proposal=proposal).exists()
    assert slack.ephemerals[-1][1] == "UNOBODY"
    assert "not linked" in slack.ephemerals[-1][2]
    event = AuditEvent.objects.filter(action="triage.slack_refused").latest("seq")
    assert (event.payload_data["why"], event.actor_label) == ("unmapped", "slack:UNOBODY")


def test_a_click_after_the_ticket_changed_is_stale_and_says_why(proposed, slack, agent_user):
    ticket, proposal = proposed
    tickets.ticket_update(actor=agent_user, ticket=ticket, urgency=3)  # someone set the urgency meanwhile
    response = signed_post(click_body(proposal))
    assert response["X-Warden-Outcome"] == "refused"
    assert not Decision.objects.filter(proposal=proposal).exists()
    assert "changed since the proposal" in slack.ephemerals[-1][2]
    assert "urgency" in slack.ephemerals[-1][2]
    assert Proposal.objects.get(pk=proposal.pk).status == ProposalStatus.SUPERSEDED
    assert "triage_approve" not in json.dumps(slack.updates[-1][3])  # the card no longer asks
    event = AuditEvent.objects.filter(action="triage.slack_refused").latest("seq")
    assert event.payload_data["why"] == "stale"


def test_a_click_on_an_old_version_is_stale(proposed, slack, agent_user):
    ticket, proposal = proposed
    services.proposal_edit(actor=agent_user, proposal_id=proposal.pk, version=1, changes={"urgency": 3})
    response = signed_post(click_body(proposal, version=1))
    assert response["X-Warden-Outcome"] == "refused"
    assert "edited since you saw it" in slack.ephemerals[-1][2]


def test_the_second_decision_is_refused_first_wins(proposed, slack, agent_user):
    ticket, proposal = proposed
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="reject", version=1, reason="No")
    response = signed_post(click_body(proposal))
    assert response["X-Warden-Outcome"] == "refused"
    assert "Already decided" in slack.ephemerals[-1][2]
    assert Decision.objects.get(proposal=proposal).verdict == "reject"


def test_the_edit_link_click_is_acknowledged_and_ignored(proposed, slack):
    ticket, proposal = proposed
    response = signed_post(click_body(proposal, action="triage_edit"))
    assert (response.status_code, response["X-Warden-Outcome"]) == (200, "ignored")
    assert not SlackInteraction.objects.exists()


# --- Events API -------------------------------------------------------------------------------


def test_the_events_url_answers_the_challenge_and_checks_the_signature(slack):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    response = signed_post(body, path="/hooks/slack/events/", content_type="application/json")
    assert (response.status_code, response.json()) == (200, {"challenge": "abc123"})
    response = signed_post(body, path="/hooks/slack/events/", content_type="application/json", secret="1" * 32)
    assert response.status_code == 401
    other = json.dumps({"type": "event_callback", "event": {"type": "app_mention"}}).encode()
    assert signed_post(other, path="/hooks/slack/events/", content_type="application/json").status_code == 200


def test_no_card_when_slack_is_connected_for_notifications_only(slack, admin_user, make_rule, new_ticket, relay):
    slack_approvals_configure(actor=admin_user, signing_secret="clear", app_token="clear")
    make_rule()
    new_ticket()
    relay()
    assert not slack.posts
    assert not SlackCard.objects.exists()
