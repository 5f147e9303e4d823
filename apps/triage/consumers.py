"""How triage reacts (registered from `TriageConfig.ready()`), after commit, retried by
the outbox:

* `triage.classify`: a new ticket (created here, or imported in bulk) gets a proposal;
* `triage.writeback`: an approved proposal goes back to the ticket's outside system.
"""

from __future__ import annotations

from apps.events.consumers import DeliveryContext, Subscriber, register_subscriber
from apps.tickets.events import TicketCreated, TicketsImported

from .choices import Verdict
from .events import ProposalDecided
from .services import proposal_make, proposal_write_back

CLASSIFY = "triage.classify"
WRITEBACK = "triage.writeback"
IMPORT_BATCH_MAX = 500  # an imported batch is classified in one delivery, bounded


def on_new_tickets(event, delivery: DeliveryContext) -> None:
    ids = [event.ticket_id] if isinstance(event, TicketCreated) else list(event.ticket_ids)[:IMPORT_BATCH_MAX]
    for ticket_id in ids:
        proposal_make(ticket_id=ticket_id)  # once per ticket: a redelivery proposes nothing twice


def on_decided(event: ProposalDecided, delivery: DeliveryContext) -> None:
    if event.verdict == Verdict.APPROVE:
        proposal_write_back(proposal_id=event.proposal_id)


def register() -> None:
    register_subscriber(Subscriber(
        name=CLASSIFY, event_types=frozenset({TicketCreated.event_type, TicketsImported.event_type}),
        handle=on_new_tickets, description="Propose a routing for each new ticket"))
    register_subscriber(Subscriber(
        name=WRITEBACK, event_types=frozenset({ProposalDecided.event_type}), handle=on_decided,
        description="Write an approved proposal back to the ticket's outside system"))
