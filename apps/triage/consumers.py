"""How triage reacts (registered from `TriageConfig.ready()`), after commit, retried by
the outbox:

* `triage.classify`: new tickets (created here, or imported in bulk) start their runs of
  the `itsm-triage` workflow (classify, propose, approve, write back, notify): the rules
  path set-based up to the decision (`services.bulk`), a language model ticket by ticket;
* `triage.runs`: a decision on a proposal resumes the run waiting for it (write-back).

Beyond the rules path, both only write rows here: the steps run in the task `triage.run_advance`, sent after the
delivery commits (a step may wait seconds for a model or ServiceNow, which must not
happen inside the relay's transaction); the periodic sweep advances a run whose task was
lost.
"""

from __future__ import annotations

from apps.events.consumers import DeliveryContext, Subscriber, register_subscriber
from apps.tickets.events import TicketCreated, TicketsImported

from .events import ProposalDecided
from .services.bulk import runs_start_many
from .services.runs import run_resume_for_proposal

CLASSIFY = "triage.classify"
RUNS = "triage.runs"
IMPORT_BATCH_MAX = 1000  # an imported batch (a page) is classified in one delivery, bounded


def on_new_tickets(event, delivery: DeliveryContext) -> None:
    ids = [event.ticket_id] if isinstance(event, TicketCreated) else list(event.ticket_ids)[:IMPORT_BATCH_MAX]
    runs_start_many(ticket_ids=ids)  # once per ticket (a redelivery finds the runs); the rules path in bulk


def on_decided(event: ProposalDecided, delivery: DeliveryContext) -> None:
    run_resume_for_proposal(proposal_id=event.proposal_id)


def register() -> None:
    register_subscriber(Subscriber(
        name=CLASSIFY, event_types=frozenset({TicketCreated.event_type, TicketsImported.event_type}),
        handle=on_new_tickets, description="Start the triage workflow of each new ticket"))
    register_subscriber(Subscriber(
        name=RUNS, event_types=frozenset({ProposalDecided.event_type}), handle=on_decided,
        description="Resume the triage run waiting for a decision (write-back, notify)"))
