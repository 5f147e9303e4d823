"""The domain events of the tickets app (ids only; see apps/events/types.py).

Every ticket write emits its events through `apps.events.emit`, in the service's
transaction, after its audit event. A status change emits `ticket.status_changed` and,
for the three that people ask about most, the specific event too (`ticket.resolved`,
`ticket.closed`, `ticket.reopened`), whichever service made it (a transition, or a
comment: an agent's first reply opens a new ticket, a requester's reply reopens a
pending one).
"""

from __future__ import annotations

from apps.events.types import DomainEvent, event_type


@event_type("ticket.created", summary="A ticket was opened, from the portal, the desk, the API or a connector.")
class TicketCreated(DomainEvent):
    ticket_id: int
    requester_id: int
    source: str
    team_id: int | None = None
    assignee_id: int | None = None


@event_type(
    "ticket.imported",
    summary="Tickets were opened in bulk from an outside system (`source`: servicenow); one event per batch. "
    "Sent instead of ticket.created for each of them: a consumer of new tickets subscribes to both.",
)
class TicketsImported(DomainEvent):
    ticket_ids: list[int]
    source: str


@event_type(
    "ticket.synced",
    summary="Many tickets took changes made in an outside system (`source`: servicenow): their impact, urgency "
    "(and so priority), category and/or team, named in `fields`; one event per batch.",
)
class TicketsSynced(DomainEvent):
    ticket_ids: list[int]
    fields: list[str]
    source: str


@event_type(
    "ticket.changed",
    summary="Descriptive fields of a ticket changed; `fields` names them (title, description, category, "
    "impact, urgency, priority, tags).",
)
class TicketChanged(DomainEvent):
    ticket_id: int
    fields: list[str]


@event_type("ticket.assigned", summary="The assignee and/or the team of a ticket changed (None: nobody, no team).")
class TicketAssigned(DomainEvent):
    ticket_id: int
    assignee_id: int | None
    team_id: int | None
    previous_assignee_id: int | None
    previous_team_id: int | None


@event_type(
    "ticket.status_changed",
    summary="A ticket moved from one status to another; `by_comment` when a reply moved it (an agent's first "
    "reply opens a new ticket; a requester's reply reopens a pending or resolved one, or closes a resolved one "
    "when it opens a follow-up).",
)
class TicketStatusChanged(DomainEvent):
    ticket_id: int
    status_from: str
    status_to: str
    by_comment: bool = False


@event_type("ticket.resolved", summary="A ticket was resolved (also sent as ticket.status_changed).")
class TicketResolved(DomainEvent):
    ticket_id: int
    resolution_code: str


@event_type(
    "ticket.closed",
    summary="A ticket was closed (also sent as ticket.status_changed): `automatic` by the auto-close sweep "
    "(days after resolution, help-desk settings), `by_comment` because the requester's reply on the resolved "
    "ticket opened a follow-up (the new ticket's `follow_up_of`).",
)
class TicketClosed(DomainEvent):
    ticket_id: int
    automatic: bool = False
    by_comment: bool = False


@event_type(
    "ticket.reopened",
    summary="A resolved ticket was reopened (also sent as ticket.status_changed); `by_comment` when the "
    "requester's reply reopened it. The event to tell the assignee that a ticket is back in their work.",
)
class TicketReopened(DomainEvent):
    ticket_id: int
    reopen_count: int
    by_comment: bool = False


@event_type(
    "ticket.commented",
    summary="A comment was added: a public reply or an internal note (`internal`). `first_response` when it "
    "was the first public reply of an agent; `mentioned_ids` are the people it @mentions who may read it.",
)
class TicketCommented(DomainEvent):
    ticket_id: int
    comment_id: int
    author_id: int
    internal: bool
    mentioned_ids: list[int]
    first_response: bool = False


@event_type(
    "ticket.attachment_added",
    summary="A file was attached to a ticket (`internal`: visible to agents only; `quarantined`: the scanner "
    "could not clear it, so it cannot be downloaded).",
)
class TicketAttachmentAdded(DomainEvent):
    ticket_id: int
    attachment_id: int
    internal: bool
    quarantined: bool


@event_type(
    "ticket.category_merged",
    summary="A ticket moved to another category because its category was merged into that one.",
)
class TicketCategoryMerged(DomainEvent):
    ticket_id: int
    category_from_id: int
    category_to_id: int


@event_type(
    "category.moved",
    summary="A category moved under another parent (None: to the top level); the SLA policies that match "
    "its tickets may have changed.",
)
class CategoryMoved(DomainEvent):
    category_id: int
    parent_from_id: int | None
    parent_to_id: int | None
