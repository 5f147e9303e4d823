"""From a domain event to what people should be told: the kinds it gives rise to, for which
ticket, with which explicit recipients. Reads the ticket it is about; writes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.sla import events as sla_events
from apps.tickets import events as ticket_events

from .kinds import Kind

# The SLA escalation steps that name someone to tell, and whom.
NOTIFY_STEPS = {"notify_assignee": "assignee", "notify_team_lead": "team_lead"}


@dataclass(frozen=True)
class Occasion:
    kind: Kind
    ticket_id: int
    # One key per thing told, so that two events about the same thing tell each person once
    # (an SLA threshold: by the rule on `sla.breached`, and by a notify step on `sla.escalated`).
    key: str
    context: dict = field(default_factory=dict)
    mentioned: tuple[int, ...] = ()
    only: tuple[str, ...] = ()  # roles named by the event itself instead of the tenant's rule


def occasions(event, *, ticket, event_id: int) -> list[Occasion]:
    """What `event` (about `ticket`) gives people to know."""
    key = f"event:{event_id}"
    if isinstance(event, ticket_events.TicketCreated):
        return [Occasion(Kind.TICKET_CREATED, ticket.pk, key)]
    if isinstance(event, ticket_events.TicketAssigned):
        if event.assignee_id is None or event.assignee_id == event.previous_assignee_id:
            return []
        return [Occasion(Kind.TICKET_ASSIGNED, ticket.pk, key)]
    if isinstance(event, ticket_events.TicketCommented):
        found = []
        if event.internal:
            found.append(Occasion(Kind.INTERNAL_NOTE, ticket.pk, key, {"comment": event.comment_id}))
        elif event.author_id == ticket.requester_id:
            found.append(Occasion(Kind.REQUESTER_REPLY, ticket.pk, key, {"comment": event.comment_id}))
        else:
            found.append(Occasion(Kind.PUBLIC_REPLY, ticket.pk, key, {"comment": event.comment_id}))
        if event.mentioned_ids:
            found.append(
                Occasion(Kind.MENTIONED, ticket.pk, key, {"comment": event.comment_id, "internal": event.internal},
                         mentioned=tuple(event.mentioned_ids))
            )
        return found
    if isinstance(event, ticket_events.TicketResolved):
        return [Occasion(Kind.TICKET_RESOLVED, ticket.pk, key)]
    if isinstance(event, ticket_events.TicketReopened):
        return [Occasion(Kind.TICKET_REOPENED, ticket.pk, key)]
    if isinstance(event, ticket_events.TicketClosed):
        return [Occasion(Kind.TICKET_CLOSED, ticket.pk, key)]
    if isinstance(event, sla_events.SlaWarning):
        return [Occasion(Kind.SLA_WARNING, ticket.pk, f"sla:{event.sla_event_id}",
                         {"metric": event.metric, "threshold": event.threshold, "sla_event": event.sla_event_id})]
    if isinstance(event, sla_events.SlaBreached):
        return [Occasion(Kind.SLA_BREACHED, ticket.pk, f"sla:{event.sla_event_id}",
                         {"metric": event.metric, "threshold": 100, "sla_event": event.sla_event_id})]
    if isinstance(event, sla_events.SlaEscalated):
        role = NOTIFY_STEPS.get(event.action)
        if role is None or event.outcome != "done":
            return []
        kind = Kind.SLA_BREACHED if event.threshold >= 100 else Kind.SLA_WARNING
        context = {"metric": event.metric, "threshold": event.threshold, "sla_event": event.sla_event_id}
        return [Occasion(kind, ticket.pk, f"sla:{event.sla_event_id}", context, only=(role,))]
    return []


EVENT_TYPES = frozenset(
    cls.event_type
    for cls in (
        ticket_events.TicketCreated,
        ticket_events.TicketAssigned,
        ticket_events.TicketCommented,
        ticket_events.TicketResolved,
        ticket_events.TicketReopened,
        ticket_events.TicketClosed,
        sla_events.SlaWarning,
        sla_events.SlaBreached,
        sla_events.SlaEscalated,
    )
)
