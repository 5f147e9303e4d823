"""Proposals: made for a new ticket through the outbox, decided once, applied through
the tickets services, refused when stale or denied, and audited with their proof."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError, Conflict
from apps.events.models import OutboxEvent
from apps.policies.decisions import PolicyDenied
from apps.tickets.models import Ticket, TicketComment
from apps.triage import services
from apps.triage.choices import Channel, ProposalStatus
from apps.triage.models import Decision, Proposal
from apps.triage.services.proposals import Stale

pytestmark = pytest.mark.django_db


@pytest.fixture
def proposed(make_rule, new_ticket, relay):
    """A ticket that matched the printer rule, with its waiting proposal."""
    make_rule()
    ticket = new_ticket()
    relay()
    return ticket, Proposal.objects.get(ticket=ticket)


def test_a_new_ticket_matching_a_rule_gets_a_proposal_of_what_it_would_change(proposed, categories, ops):
    ticket, proposal = proposed
    assert proposal.status == ProposalStatus.PENDING
    assert proposal.classifier == "rules"
    assert proposal.rule_name == "Printers to Ops"
    assert proposal.confidence == Decimal("0.90")
    # Impact 2 is the ticket's already: not proposed.
    assert proposal.changes == {"category": categories["printers"].pk, "team": ops.pk, "urgency": 1,
                                "work_note": "Routed to Ops by the printer rule."}
    assert proposal.before == {"category": None, "team": ticket.team_id, "urgency": 2}
    assert "keywords: printer, toner" in proposal.rationale
    event = AuditEvent.objects.filter(action="triage.proposed_many").latest("seq")  # a new ticket: the bulk path
    [proof] = event.payload_data["proposals"]
    assert proof["proposal_id"] == proposal.pk
    assert proof["rule"] == "Printers to Ops"
    assert proof["proposed"]["urgency"] == 1
    assert OutboxEvent.objects.filter(event_type="triage.proposal.created", payload__proposal_id=proposal.pk).exists()
    untouched = Ticket.objects.get(pk=ticket.pk)
    assert (untouched.category_id, untouched.urgency) == (None, 2)


def test_no_rule_matching_or_triage_switched_off_means_no_proposal(make_rule, new_ticket, relay, admin_user):
    make_rule()
    other = new_ticket(title="My mouse is broken")
    services.settings_update(actor=admin_user, enabled=False)
    off = new_ticket(title="Printer jam")
    relay()
    assert not Proposal.objects.filter(ticket__in=[other, off]).exists()


def test_a_redelivered_event_proposes_once(proposed):
    ticket, proposal = proposed
    assert services.proposal_make(ticket_id=ticket.pk) is None
    assert Proposal.objects.filter(ticket=ticket).count() == 1


def test_approving_applies_the_changes_as_the_approver_and_records_the_proof(proposed, agent_user, categories, ops):
    ticket, proposal = proposed
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    ticket.refresh_from_db()
    assert (ticket.category_id, ticket.team_id, ticket.urgency) == (categories["printers"].pk, ops.pk, 1)
    note = TicketComment.objects.get(ticket=ticket, internal=True)
    assert note.body == "Routed to Ops by the printer rule."
    assert note.author == agent_user
    decision = Decision.objects.get(proposal=proposal)
    assert (decision.verdict, decision.channel, decision.decided_by) == ("approve", Channel.WEB, agent_user)
    assert decision.policy_version is not None
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPLIED
    proof = AuditEvent.objects.filter(action="triage.proposal_approved").latest("seq")
    assert proof.actor_id == agent_user.pk
    assert {k: proof.payload_data[k] for k in ("classifier", "rule", "confidence", "channel", "decided_by", "note_id")} == {
        "classifier": "rules", "rule": "Printers to Ops", "confidence": "0.90", "channel": "web",
        "decided_by": "agent@alpha.test", "note_id": note.pk}
    assert proof.payload_data["approved"]["work_note"] is True  # the note's text is in the note, not the chain
    assert proof.payload_data["policy_version"] == decision.policy_version
    assert OutboxEvent.objects.filter(event_type="triage.proposal.decided", payload__proposal_id=proposal.pk,
                                      payload__verdict="approve").exists()


def test_the_first_decision_wins(proposed, agent_user, agent2_user):
    ticket, proposal = proposed
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="reject", version=1,
                             reason="Not a printer problem")
    with pytest.raises(Conflict, match="Already decided: reject by agent@alpha.test"):
        services.proposal_decide(actor=agent2_user, proposal_id=proposal.pk, verdict="approve", version=1)
    ticket.refresh_from_db()
    assert ticket.category_id is None
    assert Decision.objects.filter(proposal=proposal).count() == 1


def test_a_rejection_needs_a_reason_and_changes_nothing(proposed, agent_user):
    ticket, proposal = proposed
    with pytest.raises(ApplicationError) as refused:
        services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="reject", version=1)
    assert "reason" in refused.value.errors
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="reject", version=1, reason="Wrong team")
    proposal.refresh_from_db()
    assert (proposal.status, proposal.status_reason) == (ProposalStatus.REJECTED, "Wrong team")
    assert Ticket.objects.get(pk=ticket.pk).category_id is None


def test_a_decision_on_an_edited_proposals_old_version_is_stale(proposed, agent_user, categories):
    ticket, proposal = proposed
    services.proposal_edit(actor=agent_user, proposal_id=proposal.pk, version=1,
                           changes={"category": categories["hardware"].pk, "urgency": 3})
    with pytest.raises(Stale, match="version 1, now 2"):
        services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING
    assert "version 1, now 2" in proposal.status_reason
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=2)
    ticket.refresh_from_db()
    assert (ticket.category_id, ticket.urgency) == (categories["hardware"].pk, 3)


def test_a_ticket_rerouted_since_the_proposal_supersedes_it(proposed, agent_user, agent2_user):
    from apps.accounts.models import Team
    from apps.tickets import services as tickets

    ticket, proposal = proposed
    desk = Team.objects.get(name="Desk")
    tickets.ticket_update(actor=agent2_user, ticket=ticket, urgency=3)  # someone changed the urgency meanwhile
    with pytest.raises(Stale, match=r"changed since the proposal \(urgency\)"):
        services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.SUPERSEDED
    ticket.refresh_from_db()
    assert (ticket.urgency, ticket.team_id, ticket.category_id) == (3, ticket.team_id, None)
    assert ticket.team_id in (None, desk.pk)
    assert not Decision.objects.filter(proposal=proposal).exists()


def test_a_requester_cannot_decide_and_the_proposal_says_why(proposed, requester_user):
    ticket, proposal = proposed
    with pytest.raises(PolicyDenied):
        services.proposal_decide(actor=requester_user, proposal_id=proposal.pk, verdict="approve", version=1)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING
    assert proposal.status_reason.startswith("Refused:")
    assert Ticket.objects.get(pk=ticket.pk).category_id is None


def test_a_tenant_rule_denying_triage_to_agents_is_obeyed(proposed, agent_user, admin_user):
    from apps.policies.baseline import BASELINE_RULES
    from apps.policies.services import policy_publish

    ticket, proposal = proposed
    rules = [*BASELINE_RULES, {"name": "no triage by agents", "subject": "role:agent",
                                        "action": "ticket.triage", "effect": "deny", "priority": 50}]
    policy_publish(actor=admin_user, rules=rules)
    with pytest.raises(PolicyDenied):
        services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    assert Ticket.objects.get(pk=ticket.pk).category_id is None
    services.proposal_decide(actor=admin_user, proposal_id=proposal.pk, verdict="approve", version=1)
    assert Ticket.objects.get(pk=ticket.pk).category_id is not None


def test_automatic_approval_above_the_threshold(make_rule, new_ticket, relay, admin_user, categories):
    services.settings_update(actor=admin_user, auto_approve_rules=True, auto_approve_threshold=Decimal("0.85"))
    make_rule()
    sure = new_ticket()
    make_rule(name="Unsure network", keywords="network", set_category=categories["network"], set_team=None,
              set_impact=None, set_urgency=None, work_note="", confidence=Decimal("0.60"))
    unsure = new_ticket(title="The network is slow")
    relay()
    applied = Proposal.objects.get(ticket=sure)
    assert applied.status == ProposalStatus.APPLIED
    assert (applied.decision.channel, applied.decision.decided_by_label) == ("auto", "triage:auto")
    assert Ticket.objects.get(pk=sure.pk).category_id == categories["printers"].pk
    assert Proposal.objects.get(ticket=unsure).status == ProposalStatus.PENDING


def test_bulk_approval_takes_rule_proposals_above_the_floor_only(make_rule, new_ticket, relay, agent_user, categories):
    make_rule()
    make_rule(name="Weak network", keywords="network", set_category=categories["network"], set_team=None,
              set_impact=None, set_urgency=None, work_note="", confidence=Decimal("0.50"))
    first, second, weak = new_ticket(), new_ticket(title="Toner empty"), new_ticket(title="network down")
    relay()
    ids = list(Proposal.objects.filter(ticket__in=[first, second, weak]).values_list("pk", flat=True))
    outcome = services.proposal_approve_many(actor=agent_user, proposal_ids=ids)
    weak_id = Proposal.objects.get(ticket=weak).pk
    assert sorted(outcome.approved) == sorted(set(ids) - {weak_id})
    assert list(outcome.refused) == [weak_id]
    assert "confidence floor" in outcome.refused[weak_id]


def test_a_classifier_that_fails_sends_the_ticket_to_people_with_the_reason(new_ticket, relay, monkeypatch):
    from apps.triage.services import classify

    def broken(ticket):
        return classify.Classification(classifier="llm", confidence=Decimal("0"), rationale="", changes={},
                                       model="fake:model", failure="the model did not answer within 10 s")

    monkeypatch.setattr(classify, "_FALLBACKS", [broken])
    ticket = new_ticket(title="Something odd")
    relay()
    entry = Proposal.objects.get(ticket=ticket)
    assert (entry.status, entry.status_reason, entry.changes) == (
        ProposalStatus.UNCLASSIFIED, "the model did not answer within 10 s", {})
    assert AuditEvent.objects.filter(action="triage.unclassified").exists()
    with pytest.raises(Conflict):
        services.proposal_decide(actor=None, proposal_id=entry.pk, verdict="approve", version=1, channel="auto")
