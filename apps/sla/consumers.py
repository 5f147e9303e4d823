"""How the SLA app reacts to the events of the apps below it, and to its own.

Registered from SlaConfig.ready (`register`):

* `sla.clocks`, an **in-transaction handler** of the ticket events: a ticket's clocks
  change in the same transaction as the ticket (created, re-targeted, paused, resumed,
  stopped, reopened), so a ticket is never seen without its clocks. A batch of imported
  tickets (`ticket.imported`) gets its clocks through the bulk path, `sla_attach_many`;
  a batch of synced changes (`ticket.synced`) is re-targeted after commit (`sla.resync`).
* `sla.retarget`, a **subscriber**: after a category merge or move, the clocks of the
  tickets concerned are re-matched against the policies, after commit (possibly
  thousands of tickets: not in the admin's request).
* `sla.escalations`, a **subscriber** of its own `sla.warning` and `sla.breached`:
  audit, escalation steps and notifications, after the sweep commits.
"""

from __future__ import annotations

from apps.events.consumers import DeliveryContext, EmitContext, Handler, Subscriber, register_handler, register_subscriber
from apps.tickets import events as ticket_events
from apps.tickets.models import Ticket
from apps.tickets.selectors import category_descendant_ids

from . import events, services

CLOCK_EVENTS = frozenset(
    {
        ticket_events.TicketCreated.event_type,
        ticket_events.TicketChanged.event_type,
        ticket_events.TicketAssigned.event_type,
        ticket_events.TicketStatusChanged.event_type,
        ticket_events.TicketCommented.event_type,
        ticket_events.TicketsImported.event_type,
        ticket_events.TicketsSynced.event_type,
    }
)


def on_ticket_event(event, ctx: EmitContext) -> None:
    """Keep the ticket's clocks in line with the write that emitted `event`."""
    if isinstance(event, ticket_events.TicketCommented) and not event.first_response:
        return  # only an agent's first public reply stops a clock
    if isinstance(event, ticket_events.TicketAssigned) and event.team_id == event.previous_team_id:
        return  # the assignee alone does not change which policy applies
    if isinstance(event, ticket_events.TicketsImported):
        loaded = [ctx.instances.get((Ticket, pk)) for pk in event.ticket_ids]
        missing = [pk for pk, found in zip(event.ticket_ids, loaded, strict=True) if found is None]
        tickets = [found for found in loaded if found is not None] + list(Ticket.objects.filter(pk__in=missing))
        services.sla_attach_many(tickets)  # a batch: one policy lookup, the clocks in one statement
        return
    if isinstance(event, ticket_events.TicketsSynced):
        services.sla_on_tickets_changed(event.ticket_ids)  # a batch: re-targeted after commit, as after a merge
        return
    ticket = ctx.instance(Ticket, event.ticket_id)
    if isinstance(event, ticket_events.TicketCreated):
        services.sla_on_ticket_created(ticket)
    elif isinstance(event, ticket_events.TicketChanged):
        services.sla_on_ticket_changed(ticket, event.fields)
    elif isinstance(event, ticket_events.TicketAssigned):
        services.sla_on_ticket_changed(ticket, ["team"])
    elif isinstance(event, ticket_events.TicketStatusChanged):
        services.sla_on_status_changed(ticket, event.status_from, event.status_to)
    elif isinstance(event, ticket_events.TicketCommented):
        services.sla_on_first_response(ticket)


def on_recategorised(event, delivery: DeliveryContext) -> None:
    """Re-target the clocks of the tickets whose matching policies may have changed."""
    if isinstance(event, ticket_events.TicketCategoryMerged):
        ticket_ids = [event.ticket_id]
    else:
        subtree = category_descendant_ids([event.category_id])
        ticket_ids = list(Ticket.objects.filter(category_id__in=subtree).values_list("pk", flat=True))
    if ticket_ids:
        services.sla_tickets_resync(ticket_ids=ticket_ids)


def on_threshold(event, delivery: DeliveryContext) -> None:
    services.sla_clock_events_process(clock_id=event.clock_id, ticket_id=event.ticket_id, sla_event_id=event.sla_event_id)


def register() -> None:
    register_handler(Handler(name="sla.clocks", event_types=CLOCK_EVENTS, handle=on_ticket_event))
    register_subscriber(
        Subscriber(
            name="sla.retarget",
            event_types=frozenset({ticket_events.TicketCategoryMerged.event_type, ticket_events.CategoryMoved.event_type}),
            handle=on_recategorised,
            description="Re-target SLA clocks after a category merge or move",
        )
    )
    register_subscriber(
        Subscriber(
            name="sla.escalations",
            event_types=frozenset({events.SlaWarning.event_type, events.SlaBreached.event_type}),
            handle=on_threshold,
            description="Audit SLA warnings and breaches, run the policy's escalation steps",
        )
    )
