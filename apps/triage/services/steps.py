"""The actions a workflow step may `use` (apps/triage/workflows/*.yaml), each idempotent:
run again after a crash, it finds what it did and does nothing twice.

An action gets the run and returns a `StepOutcome`: done (with the facts it learnt and
its output), wait (for a decision), later (something it started is still in flight: the
sweep tries again), needs_person (a classifier gave no usable answer), or fail (an error;
the engine retries up to the step's `attempts`). Events an action
announces are emitted by the engine in the transaction that records the step as done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from apps.events.types import DomainEvent
from apps.tickets.models import Ticket

from .. import selectors
from ..choices import ProposalStatus, Verdict
from ..events import RunFinished
from ..models import Decision, Proposal, Rule
from ..models_runs import Run
from .classify import Classification, classify
from .proposals import proposal_make
from .writeback import NOT_LINKED, proposal_write_back

DONE, WAIT, LATER, NEEDS_PERSON, FAIL = "done", "wait", "later", "needs_person", "fail"
FACTS = ("classified", "proposed", "decided", "approved", "rejected", "linked", "written_back")


@dataclass
class StepOutcome:
    kind: str
    facts: dict = field(default_factory=dict)
    output: dict = field(default_factory=dict)
    reason: str = ""
    proposal_id: int | None = None
    events: list[DomainEvent] = field(default_factory=list)


def _classification_out(found: Classification) -> dict:
    return {"classifier": found.classifier, "confidence": str(found.confidence), "rationale": found.rationale,
            "changes": found.changes, "rule_id": found.rule.pk if found.rule else None, "model": found.model,
            "prompt_version": found.prompt_version, "prompt_hash": found.prompt_hash, "failure": found.failure}


def _classification_in(data: dict) -> Classification:
    rule = Rule.objects.filter(pk=data["rule_id"]).first() if data.get("rule_id") else None
    return Classification(classifier=data["classifier"], confidence=Decimal(data["confidence"]),
                          rationale=data["rationale"], changes=data["changes"], rule=rule, model=data["model"],
                          prompt_version=data["prompt_version"], prompt_hash=data["prompt_hash"],
                          failure=data.get("failure", ""))


def _existing(run: Run) -> Proposal | None:
    return Proposal.objects.filter(ticket_id=run.ticket_id).order_by("-pk").first()


def classify_step(run: Run) -> StepOutcome:
    ticket = Ticket.objects.select_related("requester").filter(pk=run.ticket_id).first()
    if ticket is None or ticket.status in ("resolved", "closed", "cancelled"):
        return StepOutcome(DONE, facts={"classified": False}, output={"skipped": "the ticket is done"})
    if not selectors.settings_get().enabled:
        return StepOutcome(DONE, facts={"classified": False}, output={"skipped": "triage is switched off"})
    found = classify(ticket)
    if found is None:
        return StepOutcome(DONE, facts={"classified": False}, output={"matched": None})
    if found.failure:
        entry = _existing(run) or proposal_make(ticket_id=run.ticket_id, classification=found)
        return StepOutcome(NEEDS_PERSON, facts={"classified": False}, output=_classification_out(found),
                           reason=found.failure, proposal_id=entry.pk if entry else None)
    return StepOutcome(DONE, facts={"classified": True}, output=_classification_out(found))


def propose_step(run: Run) -> StepOutcome:
    proposal = _existing(run)  # made before a crash: the same one
    if proposal is None:
        step = run.steps.filter(action="triage.classify").first()
        if step is None or not step.output.get("classifier"):
            return StepOutcome(FAIL, reason="no classification to propose from")
        proposal = proposal_make(ticket_id=run.ticket_id, classification=_classification_in(step.output))
    if proposal is None:
        return StepOutcome(DONE, facts={"proposed": False}, output={"proposal": None, "why": "nothing to change"})
    return StepOutcome(DONE, facts={"proposed": True}, output={"proposal": proposal.pk}, proposal_id=proposal.pk)


def approve_step(run: Run) -> StepOutcome:
    proposal = Proposal.objects.filter(pk=run.proposal_id).first() if run.proposal_id else None
    if proposal is None:
        return StepOutcome(DONE, facts={"decided": False}, output={"why": "no proposal"})
    decision = Decision.objects.filter(proposal=proposal).first()
    if decision is not None:
        approved = decision.verdict == Verdict.APPROVE
        return StepOutcome(DONE, facts={"decided": True, "approved": approved, "rejected": not approved},
                           output={"verdict": decision.verdict, "by": decision.decided_by_label,
                                   "channel": decision.channel})
    if proposal.status != ProposalStatus.PENDING:  # superseded: people route the ticket by hand
        return StepOutcome(DONE, facts={"decided": False}, output={"why": proposal.status_reason or proposal.status})
    return StepOutcome(WAIT)


def write_back_step(run: Run) -> StepOutcome:
    status = proposal_write_back(proposal_id=run.proposal_id)
    proposal = Proposal.objects.get(pk=run.proposal_id)
    output = {"status": status, "detail": proposal.writeback_detail, "writeback_id": proposal.writeback_id}
    if status == "pending":  # a write an interrupted worker left in flight: checked again after a while
        return StepOutcome(LATER, output=output, reason="the write-back is in flight")
    if status == "failed":
        return StepOutcome(FAIL, output=output, reason=f"write-back failed: {proposal.writeback_detail}")
    return StepOutcome(DONE, facts={"linked": status != NOT_LINKED, "written_back": status in ("sent", "dry_run")},
                       output=output)


def notify_step(run: Run) -> StepOutcome:
    facts = run.context
    outcome = ("applied" if facts.get("approved") else "rejected" if facts.get("rejected") else "not_routed")
    return StepOutcome(DONE, output={"outcome": outcome},
                       events=[RunFinished(run_id=run.pk, ticket_id=run.ticket_id, outcome=outcome)])


ACTIONS: dict[str, Callable[[Run], StepOutcome]] = {
    "triage.classify": classify_step,
    "triage.propose": propose_step,
    "triage.approve": approve_step,
    "connector.write_back": write_back_step,
    "triage.notify": notify_step,
}
