"""Approvals in Slack over Socket Mode: slack-sdk's builtin SocketModeClient connects to a
fake Socket Mode server on 127.0.0.1 (the address `apps.connections.open` answers on the
fake Web API), acknowledges each envelope at once, and handles a click once however
often Slack delivers its envelope."""

from __future__ import annotations

import threading

import pytest

from apps.audit.models import AuditEvent
from apps.triage.models import Decision, SlackInteraction
from apps.triage.slack.socket import SocketRunner
from tests.fakes.slack_socket import FakeSocketMode
from tests.triage.test_slack_approvals import APP_TOKEN, proposed, slack  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def _envelope(envelope_id: str, proposal, *, user: str = "UAGENT", retry: int = 0) -> dict:
    return {
        "envelope_id": envelope_id, "type": "interactive", "accepts_response_payload": False,
        "retry_attempt": retry, "retry_reason": "timeout" if retry else "",
        "payload": {"type": "block_actions", "user": {"id": user}, "channel": {"id": "CAPPROVE"},
                    "team": {"id": "T1"}, "trigger_id": "1.2.abc",
                    "actions": [{"action_id": "triage_approve", "value": f"{proposal.pk}:{proposal.version}",
                                 "action_ts": "1700000000.000100"}]},
    }


def _run(runner: SocketRunner, server: FakeSocketMode, envelopes: list[dict], *, expect: int) -> int:
    """Run the runner in this thread (it uses the test's database transaction) while a
    helper thread plays Slack: waits for the connection, sends the envelopes."""
    errors: list[BaseException] = []

    def slack_side() -> None:
        try:
            server.wait_connected()
            for envelope in envelopes:
                server.send(envelope)
                server.wait_acks(len(server.acks) + 1)  # redelivery after the first was acknowledged
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            runner.stop()

    helper = threading.Thread(target=slack_side, daemon=True)
    helper.start()
    handled = runner.run(max_seconds=20, max_envelopes=expect)
    helper.join(timeout=5)
    assert not errors, errors
    return handled


def test_a_redelivered_envelope_is_acknowledged_each_time_and_applied_once(proposed, slack, agent_user):  # noqa: F811
    ticket, proposal = proposed
    with FakeSocketMode() as server:
        slack.socket_url = server.url
        runner = SocketRunner(app_token=APP_TOKEN, ping_interval=1)
        first = _envelope("env-1", proposal)
        handled = _run(runner, server, [first, _envelope("env-1", proposal, retry=1)], expect=2)
    assert handled == 2
    assert server.acks == ["env-1", "env-1"]
    assert server.ack_times["env-1"] < 3  # acknowledged well within Slack's 3 s
    assert "apps.connections.open" in slack.calls
    decision = Decision.objects.get(proposal=proposal)
    assert (decision.channel, decision.decided_by) == ("slack", agent_user)
    interaction = SlackInteraction.objects.get()
    assert (interaction.key, interaction.source, interaction.outcome) == ("socket:env-1", "socket", "applied")
    assert AuditEvent.objects.filter(action="triage.proposal_approved").count() == 1


def test_a_requesters_click_over_socket_mode_is_denied_and_audited(proposed, slack):  # noqa: F811
    ticket, proposal = proposed
    with FakeSocketMode() as server:
        slack.socket_url = server.url
        runner = SocketRunner(app_token=APP_TOKEN, ping_interval=1)
        _run(runner, server, [_envelope("env-2", proposal, user="UREQ")], expect=1)
    assert server.acks == ["env-2"]
    assert not Decision.objects.filter(proposal=proposal).exists()
    assert slack.ephemerals[-1][1] == "UREQ"
    event = AuditEvent.objects.filter(action="triage.slack_refused").latest("seq")
    assert (event.payload_data["why"], event.payload_data["source"]) == ("policy", "socket")


def test_stop_ends_the_run_at_once(slack):  # noqa: F811
    with FakeSocketMode() as server:
        slack.socket_url = server.url
        runner = SocketRunner(app_token=APP_TOKEN, ping_interval=1)
        timer = threading.Timer(0.5, runner.stop)
        timer.start()
        assert runner.run(max_seconds=20) == 0
        timer.cancel()


def test_the_command_connects_with_the_tenants_app_token_and_stops_at_its_bound(slack, tenant):  # noqa: F811
    import json
    from io import StringIO

    from django.core.management import call_command

    with FakeSocketMode() as server:
        slack.socket_url = server.url
        out = StringIO()
        call_command("slack_socket", tenant="alpha", max_seconds=1, stdout=out)
    assert json.loads(out.getvalue()) == {"tenant": "alpha", "handled": 0, "acknowledged": 0}
    assert "apps.connections.open" in slack.calls


def test_the_command_refuses_a_tenant_without_an_app_token(tenant):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="app-level token"):
        call_command("slack_socket", tenant="alpha", max_seconds=1)
