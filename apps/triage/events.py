"""The domain events of the triage app (ids only; see apps/events/types.py)."""

from __future__ import annotations

from apps.events.types import DomainEvent, event_type


@event_type(
    "triage.proposal.created",
    summary="A routing was proposed for a ticket (`classifier`: rules or llm); it waits for a decision unless "
    "`auto_approved`.",
)
class ProposalCreated(DomainEvent):
    proposal_id: int
    ticket_id: int
    classifier: str
    auto_approved: bool = False


@event_type(
    "triage.proposal.decided",
    summary="A proposal was approved (and applied to the ticket: `fields`) or rejected, by a person or "
    "automatically (`channel`: web, api, slack, auto).",
)
class ProposalDecided(DomainEvent):
    proposal_id: int
    ticket_id: int
    verdict: str
    channel: str
    fields: list[str]
    note_id: int | None = None  # the internal note holding the approved work note


@event_type(
    "triage.proposal.written_back",
    summary="The write-back of an approved proposal to the ticket's outside system ended (`status`: sent, dry_run, "
    "denied, capped, conflict, failed, or not_linked when the ticket has no outside record).",
)
class ProposalWrittenBack(DomainEvent):
    proposal_id: int
    ticket_id: int
    status: str


@event_type(
    "triage.run.finished",
    summary="A workflow run ended its last step (`outcome`: applied, rejected, not_routed, ...): the routing of "
    "the ticket is settled.",
)
class RunFinished(DomainEvent):
    run_id: int
    ticket_id: int
    outcome: str
