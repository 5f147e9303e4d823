"""One timeline per ticket, merged from what the tickets app records.

* comments and attachments: the tickets selectors (`comment_list`, `attachment_list`),
  which already hide internal ones from anyone who is not an agent;
* status changes, assignments and field changes: the ticket's audit events (the
  tickets app keeps no event table of its own; every service writes one audit event).

The desk is for agents only, so every entry here may be shown; internal entries carry
`internal=True` and the template marks them. HTML comes only from the tickets Markdown
renderer, re-cleaned on output (`sanitize_html`).

Who did it is a `people.Person` (full name, email on hover): audit events are matched to
their user by `actor_id`, everyone named on the timeline loaded in one query; a field
change lists each field with its old and new value (`field_changes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from apps.audit.selectors import audit_event_list
from apps.tickets import selectors
from apps.tickets.choices import URGENCY_CHOICES, Level, Priority, ResolutionCode, TicketStatus
from apps.tickets.markdown import sanitize_html
from apps.tickets.models import Ticket

from .people import People, Person, person

TICKET_ACTIONS = ("ticket.transitioned", "ticket.assigned", "ticket.updated", "ticket.commented")
# The triage workflow's steps on this ticket (apps/triage): shown as "triage" entries.
TRIAGE_ACTIONS = ("triage.run_started", "triage.proposal_approved", "triage.proposal_rejected", "triage.written_back",
                  "triage.unclassified", "triage.run_needs_person", "triage.run_escalated", "triage.run_failed",
                  "triage.run_closed", "triage.run_unblocked")
WRITEBACK_LABELS = {
    "sent": gettext_lazy("written to ServiceNow"), "dry_run": gettext_lazy("recorded, not sent (dry run)"),
    "denied": gettext_lazy("refused by policy"), "capped": gettext_lazy("not sent: the daily cap is reached"),
    "conflict": gettext_lazy("not sent: the incident changed in ServiceNow"),
    "failed": gettext_lazy("failed"), "skipped": gettext_lazy("nothing to write"),
}
AUDIT_LIMIT = 500  # a ticket with more history shows its latest 500 events
# The fields of a `ticket.updated` event, in the order a change lists them.
FIELD_LABELS = {
    "title": gettext_lazy("Title"),
    "description": gettext_lazy("Description"),
    "category": gettext_lazy("Category"),
    "impact": gettext_lazy("Impact"),
    "urgency": gettext_lazy("Urgency"),
    "priority": gettext_lazy("Priority"),
    "tags": gettext_lazy("Tags"),
}


@dataclass
class Entry:
    kind: str  # created | comment | status | assignment | update | attachment
    at: datetime
    actor: Person
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
        .filter(target_type=Ticket._meta.label_lower, target_id=str(ticket.pk),
                action__in=TICKET_ACTIONS + TRIAGE_ACTIONS)
        .only("seq", "created_at", "actor_id", "actor_label", "action", "payload")
        .order_by("-seq")[:AUDIT_LIMIT]
    )
    return list(reversed(list(events)))


def _label(choices, value):
    return dict(choices).get(value, value) if value else ""


def _payload(event) -> dict:
    return event.payload_data if isinstance(event.payload_data, dict) else {}


def _pair(value) -> tuple[object, object] | None:
    """(from, to) of a `{"from": .., "to": ..}` change, None for anything else."""
    if isinstance(value, dict) and "to" in value:
        return value.get("from"), value.get("to")
    return None


def _category_ids(events) -> set[int]:
    ids: set[int] = set()
    for event in events:
        if event.action == "ticket.updated":
            pair = _pair(_payload(event).get("category"))
            ids.update(pk for pk in pair or () if isinstance(pk, int))
    return ids


def _people_ids(events) -> set[int]:
    ids: set[int] = set()
    for event in events:
        ids.add(event.actor_id)
        if event.action == "ticket.assigned":
            payload = _payload(event)
            for side in ("from", "to"):
                part = payload.get(side)
                if isinstance(part, dict):
                    ids.add(part.get("assignee"))
    return {pk for pk in ids if isinstance(pk, int)}


# Reasons the system writes into the audit chain (in English, as stored): shown in the
# reader's language. Any other reason is a person's own words and is shown as written.
_SYSTEM_REASONS = (
    (re.compile(r"The requester replied after the ticket was resolved\."),
     lambda m: _("The requester replied after the ticket was resolved.")),
    (re.compile(r"The requester replied after the ticket was resolved; the reply opened follow-up #(\d+)\."),
     lambda m: _("The requester replied after the ticket was resolved; the reply opened follow-up #%(number)s.")
     % {"number": m.group(1)}),
    (re.compile(r"Closed automatically (\d+) days? after resolution\."),
     lambda m: ngettext("Closed automatically %(days)s day after resolution.",
                        "Closed automatically %(days)s days after resolution.", int(m.group(1))) % {"days": m.group(1)}),
)


def reason_text(reason: str) -> str:
    for pattern, text in _SYSTEM_REASONS:
        match = pattern.fullmatch(reason)
        if match:
            return text(match)
    return reason


def field_changes(payload: dict, *, categories: dict[int, str]) -> list[dict]:
    """What a `ticket.updated` event changed, field by field, in words: `label`, and
    `old`/`new` (text), or `added`/`removed` (tags). A title has only its new text (None
    when the tenant's audit keeps digests of text instead); a description is never
    repeated here."""
    levels = dict(Level.choices)
    urgencies = dict(URGENCY_CHOICES)
    priorities = dict(Priority.choices)
    no_category = _("No category")

    def category(pk):
        if pk is None:
            return no_category
        return categories.get(pk) or _("a deleted category")

    changes: list[dict] = []
    for key, label in FIELD_LABELS.items():
        if key not in payload:
            continue
        value = payload[key]
        change: dict = {"field": key, "label": label}
        if key == "title":
            # A metadata-only tenant's audit keeps a digest of the text, not the text.
            change["new"] = value if isinstance(value, str) else None
        elif key == "description":
            pass
        elif key == "tags":
            pair = _pair(value)
            if pair is None:
                continue
            before = [t for t in pair[0] or () if isinstance(t, str)]
            after = [t for t in pair[1] or () if isinstance(t, str)]
            lowered = {t.lower() for t in before}
            kept = {t.lower() for t in after}
            change["added"] = [t for t in after if t.lower() not in lowered]
            change["removed"] = [t for t in before if t.lower() not in kept]
            if not change["added"] and not change["removed"]:
                continue
        else:
            pair = _pair(value)
            if pair is None or pair[0] == pair[1]:
                continue  # impact and urgency travel together; only the one that moved is listed
            if key == "category":
                change["old"], change["new"] = category(pair[0]), category(pair[1])
            elif key == "priority":
                change["old"], change["new"] = priorities.get(pair[0], pair[0]), priorities.get(pair[1], pair[1])
            else:
                names = urgencies if key == "urgency" else levels
                change["old"], change["new"] = names.get(pair[0], pair[0]), names.get(pair[1], pair[1])
        changes.append(change)
    return changes


def build(*, actor, ticket: Ticket, comments, attachments, teams: dict) -> list[Entry]:
    """Entries oldest first. Everyone is named by `people.Person` (full name, email on
    hover), loaded in one query; `teams` maps ids to names for assignment entries."""
    events = ticket_audit_events(ticket)
    people = People(_people_ids(events))
    category_ids = _category_ids(events)
    categories = (
        {c.pk: c.name for c in selectors.category_list(include_archived=True).filter(pk__in=category_ids)}
        if category_ids else {}
    )

    def team(pk):
        if pk is None:
            return None
        return teams.get(pk) or _("a deleted team")

    entries = [
        Entry(kind="created", at=ticket.created_at, actor=person(ticket.requester), order=0,
              data={"source": ticket.get_source_display()})
    ]
    for comment in comments:
        entries.append(
            Entry(kind="comment", at=comment.created_at, actor=person(comment.author), internal=comment.internal,
                  html=safe_html(comment.body_html), anchor=f"comment-{comment.pk}", order=2)
        )
    for attachment in attachments:
        entries.append(
            Entry(kind="attachment", at=attachment.created_at, actor=person(attachment.uploaded_by),
                  internal=attachment.is_internal or bool(attachment.comment_id and attachment.comment.internal),
                  data={"attachment": attachment}, anchor=f"attachment-{attachment.pk}", order=3)
        )
    for event in events:
        payload = _payload(event)
        who = people.actor(event.actor_id, event.actor_label)
        anchor = f"event-{event.seq}"
        if event.action == "ticket.transitioned":
            entries.append(
                Entry(kind="status", at=event.created_at, actor=who, order=1, anchor=anchor,
                      data={"from": _label(TicketStatus.choices, payload.get("from")),
                            "to": _label(TicketStatus.choices, payload.get("to")),
                            "reason": reason_text(payload.get("reason")) if isinstance(payload.get("reason"), str) else "",
                            "resolution": _label(ResolutionCode.choices, payload.get("resolution_code")),
                            "note": payload.get("resolution_note") if isinstance(payload.get("resolution_note"), str)
                            else ""})
            )
        elif event.action == "ticket.commented" and isinstance(payload.get("status"), dict):
            entries.append(
                Entry(kind="status", at=event.created_at, actor=who, order=1, anchor=anchor,
                      data={"from": _label(TicketStatus.choices, payload["status"].get("from")),
                            "to": _label(TicketStatus.choices, payload["status"].get("to")), "automatic": True})
            )
        elif event.action == "ticket.assigned":
            before, after = payload.get("from") or {}, payload.get("to") or {}
            entries.append(
                Entry(kind="assignment", at=event.created_at, actor=who, order=1, anchor=anchor,
                      data={"assignee": people.get(after.get("assignee")), "team": team(after.get("team")),
                            "assignee_changed": before.get("assignee") != after.get("assignee"),
                            "team_changed": before.get("team") != after.get("team")})
            )
        elif event.action in TRIAGE_ACTIONS:
            entry = _triage_entry(event.action, payload)
            if entry is not None:
                entries.append(Entry(kind="triage", at=event.created_at, actor=who, order=1, anchor=anchor,
                                     internal=True, data=entry))
        elif event.action == "ticket.updated":
            changes = field_changes(payload, categories=categories)
            if changes:
                entries.append(
                    Entry(kind="update", at=event.created_at, actor=who, order=1, anchor=anchor,
                          data={"changes": changes})
                )
    entries.sort(key=lambda e: (e.at, e.order))
    return entries


def _triage_entry(action: str, payload: dict) -> dict | None:
    """What a triage audit event says, in words: `what` (a sentence), `detail` (or "")."""
    def text(key: str) -> str:
        value = payload.get(key)
        return value if isinstance(value, str) else ""

    source = text("rule") or text("model") or text("classifier")
    if action == "triage.run_started":
        return {"what": _("Triage workflow started (%(template)s, version %(version)s)")
                % {"template": text("template"), "version": payload.get("version")}, "detail": ""}
    if action == "triage.proposal_approved":
        return {"what": _("approved the proposed routing (%(source)s, confidence %(confidence)s) via %(channel)s")
                % {"source": source, "confidence": text("confidence"), "channel": text("channel")},
                "detail": text("reason"), "by_person": True}
    if action == "triage.proposal_rejected":
        return {"what": _("rejected the proposed routing (%(source)s) via %(channel)s")
                % {"source": source, "channel": text("channel")}, "detail": text("reason"), "by_person": True}
    if action == "triage.written_back":
        status = text("status")
        if status == "not_linked":
            return None  # a ticket from here: nothing went anywhere
        label = WRITEBACK_LABELS.get(status, status)
        return {"what": _("Approved routing: %(outcome)s") % {"outcome": label}, "detail": text("detail")}
    if action in ("triage.unclassified", "triage.run_needs_person"):
        return {"what": _("Triage: no proposal, a person routes this ticket"), "detail": text("reason")}
    if action == "triage.run_escalated":
        return {"what": _("Triage workflow escalated"), "detail": text("reason")}
    if action == "triage.run_failed":
        return {"what": _("Triage workflow failed"), "detail": text("reason")}
    if action == "triage.run_closed":
        return {"what": _("Triage workflow closed by an operator"), "detail": text("reason")}
    if action == "triage.run_unblocked":
        return {"what": _("Triage workflow unblocked by an operator"), "detail": text("reason")}
    return None


def load(*, actor, ticket: Ticket):
    """(comments, attachments) of `ticket` as `actor` may see them."""
    comments = list(selectors.comment_list(actor=actor, ticket=ticket))
    attachments = list(selectors.attachment_list(actor=actor, ticket=ticket).select_related("comment"))
    return comments, attachments
