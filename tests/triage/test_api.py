"""The triage API (CONTRACT.md): `triage/proposals/` and `POST triage/proposals/{id}/decision/`
with `{"decision", "reason", "version"}`; problems as RFC 9457 details."""

from __future__ import annotations

import pytest

from apps.triage.models import Proposal
from tests.conftest import OTHER_HOST

pytestmark = pytest.mark.django_db
URL = "/api/v1/triage/proposals/"


@pytest.fixture
def proposal(make_rule, new_ticket, relay):
    make_rule()
    ticket = new_ticket()
    relay()
    return Proposal.objects.get(ticket=ticket)


def test_agents_list_the_waiting_proposals_with_their_diff(api_as, agent_user, proposal):
    answer = api_as(agent_user).get(URL, {"status": "pending"})
    assert answer.status_code == 200
    [item] = answer.json()["results"]
    assert item["id"] == proposal.pk
    assert item["ticket"] == proposal.ticket.number
    assert (item["classifier"], item["rule"], item["confidence"], item["version"]) == (
        "rules", "Printers to Ops", 0.9, 1)
    assert item["changes"]["urgency"] == 1
    assert item["before"]["urgency"] == 2
    assert item["decision"] is None


def test_requesters_may_not_see_proposals(api_as, requester_user, proposal):
    answer = api_as(requester_user).get(URL)
    assert answer.status_code == 403
    assert answer["Content-Type"].startswith("application/problem+json")


def test_approving_through_the_api_applies_and_returns_the_decision(api_as, agent_user, proposal):
    answer = api_as(agent_user).post(f"{URL}{proposal.pk}/decision/", {"decision": "approve", "version": 1},
                                     format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["status"] == "applied"
    assert (body["decision"]["decision"], body["decision"]["channel"], body["decision"]["decided_by"]) == (
        "approve", "api", "agent@alpha.test")
    proposal.ticket.refresh_from_db()
    assert proposal.ticket.urgency == 1


def test_a_second_decision_is_a_409_problem(api_as, agent_user, agent2_user, proposal):
    api_as(agent_user).post(f"{URL}{proposal.pk}/decision/", {"decision": "reject", "reason": "No", "version": 1},
                            format="json")
    answer = api_as(agent2_user).post(f"{URL}{proposal.pk}/decision/", {"decision": "approve", "version": 1},
                                      format="json")
    assert answer.status_code == 409
    assert "Already decided" in answer.json()["detail"]


def test_a_stale_version_is_a_409_and_bad_input_a_400(api_as, agent_user, proposal):
    client = api_as(agent_user)
    stale = client.post(f"{URL}{proposal.pk}/decision/", {"decision": "approve", "version": 7}, format="json")
    assert stale.status_code == 409
    assert "version 7, now 1" in stale.json()["detail"]
    no_reason = client.post(f"{URL}{proposal.pk}/decision/", {"decision": "reject", "version": 1}, format="json")
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["errors"]
    bad = client.post(f"{URL}{proposal.pk}/decision/", {"decision": "maybe", "version": 1}, format="json")
    assert bad.status_code == 400
    proposal.refresh_from_db()
    assert proposal.status == "pending"


def test_another_tenants_proposal_is_404(api_as, agent_user, proposal, other_tenant):
    from django.db import connection

    from apps.accounts.models import User

    connection.set_tenant(other_tenant)
    outsider = User.objects.get(email="agent@beta.test")
    answer = api_as(outsider, host=OTHER_HOST).get(f"{URL}{proposal.pk}/")
    assert answer.status_code == 404
