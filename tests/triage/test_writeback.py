"""An approved proposal for a ticket imported from ServiceNow is written back to the
incident (the fake Table API on 127.0.0.1) through the connectors' governed write-back,
and the outcome is kept on the proposal: sent, capped, dry run, not linked."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.connectors.servicenow.models import WriteBack
from apps.triage import services
from apps.triage.models import Proposal

pytestmark = pytest.mark.django_db


def _group(snow, name):
    return next(g for g, row in snow.tables["sys_user_group"].items() if row["name"] == name)


def test_an_approved_proposal_lands_on_the_incident_with_its_undo_record(snow, routed, agent_user, relay):
    snow.add_group("Database")
    sys_id, ticket, proposal = routed()
    assert proposal.changes["urgency"] == 1
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    record = snow.get(sys_id)
    assert (record["category"], record["urgency"], record["assignment_group"]) == (
        "Network", "1", _group(snow, "Database"))
    assert snow.journal(sys_id)[-1]["value"] == "Routed by Warden triage."
    proposal.refresh_from_db()
    assert proposal.writeback_status == "sent", proposal.writeback_detail
    row = WriteBack.objects.get(pk=proposal.writeback_id)
    assert row.approved_by_label == agent_user.email
    assert row.prior_values["urgency"] == "2"  # what the undo puts back
    actions = list(AuditEvent.objects.filter(action__in=["triage.proposal_approved", "servicenow.writeback_sent",
                                                         "triage.written_back"]).order_by("seq")
                   .values_list("action", flat=True))
    assert actions == ["triage.proposal_approved", "servicenow.writeback_sent", "triage.written_back"]
    # The event redelivered: written once.
    assert services.proposal_write_back(proposal_id=proposal.pk) == "sent"
    assert len([r for r in snow.requests if r.method == "PATCH"]) == 1


def test_a_team_with_no_servicenow_group_is_not_guessed(snow, routed, agent_user, relay):
    sys_id, ticket, proposal = routed()  # no group named Database in the fake
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    proposal.refresh_from_db()
    assert proposal.writeback_status == "sent"
    assert "no ServiceNow group is named 'Database'" in proposal.writeback_detail
    assert snow.get(sys_id)["urgency"] == "1"


def test_the_daily_cap_reached_writes_nothing_and_the_proposal_says_why(snow, routed, agent_user, relay):
    sys_id, ticket, proposal = routed(daily_write_cap=0)
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    proposal.refresh_from_db()
    assert proposal.writeback_status == "capped"
    assert "daily write cap (0)" in proposal.writeback_detail
    assert snow.get(sys_id)["urgency"] == "2"
    assert not [r for r in snow.requests if r.method == "PATCH"]


def test_a_dry_run_connector_records_what_it_would_write(snow, routed, agent_user, relay):
    sys_id, ticket, proposal = routed(dry_run=True)
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    proposal.refresh_from_db()
    assert proposal.writeback_status == "dry_run"
    assert snow.get(sys_id)["urgency"] == "2"


def test_a_ticket_from_here_has_nothing_to_write_back(make_rule, new_ticket, agent_user, relay):
    make_rule()
    ticket = new_ticket()
    relay()
    proposal = Proposal.objects.get(ticket=ticket)
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    proposal.refresh_from_db()
    assert proposal.writeback_status == "not_linked"
