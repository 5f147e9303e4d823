"""One timeline per ticket, merged from what the tickets app records.

* comments and attachments: the tickets selectors (`comment_list`, `attachment_list`),
  which already hide internal ones from anyone who is not an agent;
* status changes, assignments and field changes: the ticket's audit events (the
  tickets app keeps no event table of its own; every service writes one audit event).

The desk is for agents only, so every entry here may be shown; internal entries carry
`internal=True` and the template marks them. HTML comes only from the tickets Markdown
renderer, re-cleaned on output (`sanitize_html`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from apps.audit.selectors import audit_event_list
from apps.tickets import selectors
from apps.tickets.choices import ResolutionCode, TicketStatus
from apps.tickets.markdown import sanitize_html
from apps.tickets.models import Ticket

TICKET_ACTIONS = ("ticket.transitioned", "ticket.assigned", "ticket.updated", "ticket.commented")
AUDIT_LIMIT = 500  # a ticket with more history shows its latest 500 events
FIELD_LABELS = {
    "title": _("title"),
    "description": _("description"),
    "category": _("category"),
    "tags": _("tags"),
    "impact": _("impact"),
    "urgency": _("urgency"),
    "priority": _("priority"),
}


@dataclass
class Entry:
    kind: str  # created | comment | status | assignment | update | attachment
    at: datetime
    actor: str
    internal: bool = False
    html: SafeString | None = None
    data: dict = field(default_factory=dict)
    anchor: str = ""
    order: int = 0


def safe_html(html: str) -> SafeString:
    """Stored, already sanitised HTML, cleaned once more on the way out."""
    return mark_safe(sanitize_html(html))  # noqa: S308 - nh3 allow-list output


def ticket_audit_events(ticket: Ticket):
    """The ticket's own audit events (status, assignment, field changes), oldest first."""
    events = (
        audit_event_list()
        .filter(target_type=Ticket._meta.label_lower, target_id=str(ticket.pk), action__in=TICKET_ACTIONS)
        .only("seq", "created_at", "actor_label", "action", "payload")
        .order_by("-seq")[:AUDIT_LIMIT]
    )
    return list(reversed(list(events)))


def _label(choices, value):
    return dict(choices).get(value, value) if value else ""


def build(*, actor, ticket: Ticket, comments, attachments, people: dict, teams: dict) -> list[Entry]:
    """Entries oldest first. `people`/`teams` map ids to names for assignment entries."""

    def person(pk):
        if pk is None:
            return None
        return people.get(pk) or f"#{pk}"

    def team(pk):
        if pk is None:
            return None
        return teams.get(pk) or f"#{pk}"

    entries = [
        Entry(kind="created", at=ticket.created_at, actor=str(ticket.requester), order=0,
              data={"source": ticket.get_source_display()})
    ]
    for comment in comments:
        entries.append(
            Entry(kind="comment", at=comment.created_at, actor=str(comment.author), internal=comment.internal,
                  html=safe_html(comment.body_html), anchor=f"comment-{comment.pk}", order=2)
        )
    for attachment in attachments:
        entries.append(
            Entry(kind="attachment", at=attachment.created_at, actor=str(attachment.uploaded_by),
                  internal=attachment.is_internal or bool(attachment.comment_id and attachment.comment.internal),
                  data={"attachment": attachment}, anchor=f"attachment-{attachment.pk}", order=3)
        )
    for event in ticket_audit_events(ticket):
        payload = event.payload_data if isinstance(event.payload_data, dict) else {}
        if event.action == "ticket.transitioned":
            entries.append(
                Entry(kind="status", at=event.created_at, actor=event.actor_label, order=1,
                      data={"from": _label(TicketStatus.choices, payload.get("from")),
                            "to": _label(TicketStatus.choices, payload.get("to")),
                            "reason": payload.get("reason") if isinstance(payload.get("reason"), str) else "",
                            "resolution": _label(ResolutionCode.choices, payload.get("resolution_code")),
                            "note": payload.get("resolution_note") if isinstance(payload.get("resolution_note"), str)
                            else ""})
            )
        elif event.action == "ticket.commented" and isinstance(payload.get("status"), dict):
            entries.append(
                Entry(kind="status", at=event.created_at, actor=event.actor_label, order=1,
                      data={"from": _label(TicketStatus.choices, payload["status"].get("from")),
                            "to": _label(TicketStatus.choices, payload["status"].get("to")), "automatic": True})
            )
        elif event.action == "ticket.assigned":
            before, after = payload.get("from") or {}, payload.get("to") or {}
            entries.append(
                Entry(kind="assignment", at=event.created_at, actor=event.actor_label, order=1,
                      data={"assignee": person(after.get("assignee")), "team": team(after.get("team")),
                            "assignee_changed": before.get("assignee") != after.get("assignee"),
                            "team_changed": before.get("team") != after.get("team")})
            )
        elif event.action == "ticket.updated":
            changed = [str(FIELD_LABELS.get(k, k)) for k in sorted(payload) if k != "number"]
            if changed:
                entries.append(
                    Entry(kind="update", at=event.created_at, actor=event.actor_label, order=1,
                          data={"fields": changed})
                )
    entries.sort(key=lambda e: (e.at, e.order))
    return entries


def load(*, actor, ticket: Ticket):
    """(comments, attachments) of `ticket` as `actor` may see them."""
    comments = list(selectors.comment_list(actor=actor, ticket=ticket))
    attachments = list(selectors.attachment_list(actor=actor, ticket=ticket).select_related("comment"))
    return comments, attachments
