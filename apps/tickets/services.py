"""Every write to tickets, comments, attachments, categories, tags and the priority matrix.

Each service is keyword-only and runs in one transaction: it asks the policies first
(`policy_require`, fail-closed), checks the input, writes, and appends its audit event
in the same transaction. Side effects (notifications, SLA) run after commit through
`events.publish`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, Value
from django.db.models.functions import Lower, Replace
from django.utils import timezone

from apps.accounts import permissions
from apps.accounts.models import Role, Team, TeamMembership, User
from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from apps.policies.services import policy_require
from apps.sla import services as sla

from . import conf, events, workflow
from .actions import CATEGORY_MANAGE, PRIORITY_MATRIX_CHANGE, TAG_MANAGE, TICKET_UPDATE
from .choices import Level, ResolutionCode, ScanStatus, TicketSource, TicketStatus, Visibility
from .errors import CooldownActive
from .markdown import render_markdown
from .models import Category, PriorityMatrix, Tag, Ticket, TicketAttachment, TicketComment
from .priority import MatrixInvalid, priority_for, validate_matrix
from .search import new_ticket_vector, search_append_comment, search_refresh
from .selectors import TICKET_RELATED, category_descendant_ids, category_tree, priority_matrix_get
from .text import clean_text

logger = logging.getLogger(__name__)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()

TICKET_CREATE = "ticket.create"
TICKET_TRANSITION = "ticket.transition"
TICKET_ASSIGN = "ticket.assign"
TICKET_COMMENT = "ticket.comment"
TICKET_VIEW = "ticket.view"


# --- Small helpers ----------------------------------------------------------------------


def _workflow_role(actor) -> str:
    """The role the workflow map applies to `actor` (the system counts as an admin)."""
    if actor is None:
        return workflow.ADMIN
    role = getattr(actor, "role", None)
    if role in workflow.ROLES:
        return role
    return workflow.AGENT  # integrations work tickets like agents; policies still decide


def _require_user(actor, what: str) -> User:
    if not isinstance(actor, User) or not actor.is_active:
        raise PermissionDenied(f"Only a signed-in user can {what}.")
    return actor


def _clean_title(title: str) -> str:
    return clean_text(
        title,
        field="title",
        required=True,
        single_line=True,
        max_chars=conf.get("WARDEN_TICKETS_TITLE_MAX_CHARS"),
        label="The title",
    )


def _clean_markdown(value: str, *, field: str, label: str, required: bool = False) -> str:
    return clean_text(
        value,
        field=field,
        required=required,
        max_bytes=conf.get("WARDEN_TICKETS_BODY_MAX_BYTES"),
        label=label,
    )


def _clean_reason(reason: str, *, required: bool, field: str = "reason", label: str = "A reason") -> str:
    return clean_text(
        reason, field=field, required=required, max_chars=conf.get("WARDEN_TICKETS_REASON_MAX_CHARS"), label=label
    )


def _clean_level(value, field: str) -> int:
    if isinstance(value, bool) or value not in Level.values:
        raise ApplicationError(
            f"{field.capitalize()} must be 1 (high), 2 (medium) or 3 (low).",
            errors={field: ["Use 1 (high), 2 (medium) or 3 (low)."]},
        )
    return int(value)


def _resolve_category(category: Category | int | None) -> Category | None:
    if category is None:
        return None
    if not isinstance(category, Category):
        category = Category.objects.filter(pk=category).first()
        if category is None:
            raise ApplicationError("That category does not exist.", errors={"category": ["Unknown category."]})
    if category.archived:
        raise ApplicationError(
            f"The category {category.name!r} is archived; choose another one.",
            errors={"category": ["This category is archived."]},
        )
    return category


def _resolve_tags(names: Iterable[str]) -> list[Tag]:
    wanted: dict[str, str] = {}
    for raw in names:
        name = clean_text(raw, field="tags", required=True, single_line=True, max_chars=50, label="A tag")
        wanted.setdefault(name.lower(), name)
    limit = conf.get("WARDEN_TICKETS_MAX_TAGS")
    if len(wanted) > limit:
        raise ApplicationError(f"A ticket has at most {limit} tags.", errors={"tags": [f"At most {limit} tags."]})
    found = {tag.name.lower(): tag for tag in Tag.objects.annotate(lname=Lower("name")).filter(lname__in=list(wanted))}
    missing = [name for key, name in wanted.items() if key not in found]
    if missing:
        message = f"Unknown tag(s): {', '.join(sorted(missing))}. A tenant admin creates tags."
        raise ApplicationError(message, errors={"tags": [message]})
    return sorted(found.values(), key=lambda t: t.name.lower())


def _check_assignment(*, assignee: User | None, team: Team | None) -> None:
    if assignee is not None:
        if not assignee.is_active or assignee.role not in (Role.AGENT, Role.ADMIN):
            raise ApplicationError(
                f"{assignee.email} is not an agent; only agents and admins can be assigned.",
                errors={"assignee": ["Only active agents and admins can be assigned."]},
            )
        if team is not None and not TeamMembership.objects.filter(team=team, user=assignee).exists():
            raise ApplicationError(
                f"{assignee.email} is not a member of the team {team.name}.",
                errors={"assignee": [f"Not a member of the team {team.name}."]},
            )


def _resolve_user(value: User | int | None, field: str) -> User | None:
    if value is None or isinstance(value, User):
        return value
    user = User.objects.filter(pk=value).first()
    if user is None:
        raise ApplicationError(f"There is no user {value}.", errors={field: ["Unknown user."]})
    return user


def _resolve_team(value: Team | int | None) -> Team | None:
    if value is None or isinstance(value, Team):
        return value
    team = Team.objects.filter(pk=value).first()
    if team is None:
        raise ApplicationError(f"There is no team {value}.", errors={"team": ["Unknown team."]})
    return team


def _lock(ticket: Ticket) -> Ticket:
    """The ticket row, locked for the rest of the transaction, with related objects loaded.

    FOR NO KEY UPDATE, not FOR UPDATE: it still excludes other writers, but not the FOR
    KEY SHARE that a foreign-key check takes (the SLA sweep inserting an event for this
    ticket while holding its clocks), which would otherwise deadlock with our own
    clock sync (docs/sla.md, "Locks")."""
    return Ticket.objects.select_for_update(of=("self",), no_key=True).select_related(*TICKET_RELATED).get(pk=ticket.pk)


def _next_number() -> int:
    """The next ticket number: the counter row is locked until the transaction ends, so
    numbers are gapless among committed tickets (a rollback gives its number back)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tickets_ticketcounter SET last_number = last_number + 1 WHERE singleton RETURNING last_number")
        row = cursor.fetchone()
        if row is None:  # a schema created without the data migration
            cursor.execute(
                "INSERT INTO tickets_ticketcounter (singleton, last_number) "
                "SELECT true, coalesce(max(number), 0) FROM tickets_ticket ON CONFLICT (singleton) DO NOTHING"
            )
            cursor.execute(
                "UPDATE tickets_ticketcounter SET last_number = last_number + 1 WHERE singleton RETURNING last_number"
            )
            row = cursor.fetchone()
    return int(row[0])


def _touch(ticket: Ticket, fields: list[str], now: datetime | None = None) -> None:
    ticket.updated_at = now or timezone.now()
    ticket.save(update_fields=[*fields, "updated_at"])


# --- Tickets ----------------------------------------------------------------------------


@transaction.atomic
def ticket_create(
    *,
    actor,
    title: str,
    description: str = "",
    requester: User | int | None = None,
    category: Category | int | None = None,
    tags: Sequence[str] = (),
    impact: int = Level.MEDIUM,
    urgency: int = Level.MEDIUM,
    team: Team | int | None = None,
    assignee: User | int | None = None,
    source: str = TicketSource.PORTAL,
) -> Ticket:
    """Open a ticket. `requester` defaults to `actor`; only agents open tickets for others."""
    requester_id = getattr(requester, "pk", requester) if requester is not None else getattr(actor, "pk", None)
    policy_require(
        actor,
        TICKET_CREATE,
        {
            "type": "tickets.ticket",
            "requester_id": requester_id,
            "category_id": getattr(category, "pk", category),
            "source": source,
        },
        {"source": source, "on_behalf": requester_id != getattr(actor, "pk", None)},
    )
    acting_for_self = requester_id == getattr(actor, "pk", None)
    if not acting_for_self and actor is not None and not permissions.is_agent(actor):
        # Before looking the person up: a requester learns nothing about other user ids.
        raise PermissionDenied("Only agents open tickets on behalf of someone else.")
    requester_user = _resolve_user(requester, "requester") if requester is not None else actor
    if not isinstance(requester_user, User) or not requester_user.is_active:
        raise ApplicationError("A ticket needs an active requester.", errors={"requester": ["Unknown or inactive user."]})
    if (team is not None or assignee is not None) and actor is not None and not permissions.is_agent(actor):
        raise PermissionDenied("Only agents choose the team or assignee of a ticket.")
    if source not in TicketSource.values:
        raise ApplicationError(
            f"Unknown source {source!r}.", errors={"source": [f"Use one of {', '.join(TicketSource.values)}."]}
        )
    title = _clean_title(title)
    description = _clean_markdown(description, field="description", label="The description")
    impact = _clean_level(impact, "impact")
    urgency = _clean_level(urgency, "urgency")
    category_obj = _resolve_category(category)
    tag_objs = _resolve_tags(tags)
    team_obj = _resolve_team(team)
    assignee_obj = _resolve_user(assignee, "assignee")
    _check_assignment(assignee=assignee_obj, team=team_obj)

    now = timezone.now()
    ticket = Ticket.objects.create(
        number=_next_number(),
        title=title,
        description=description,
        description_html=render_markdown(description),
        requester=requester_user,
        category=category_obj,
        impact=impact,
        urgency=urgency,
        priority=priority_for(impact, urgency, priority_matrix_get()),
        team=team_obj,
        assignee=assignee_obj,
        source=source,
        status=TicketStatus.NEW,
        created_at=now,
        updated_at=now,
        search_vector=new_ticket_vector(title=title, description=description),
    )
    ticket.__dict__.pop("search_vector", None)  # the expression is not the value: load it if ever read
    if tag_objs:
        ticket.tags.set(tag_objs)
    ticket.tag_names = [tag.name for tag in tag_objs]  # as the selectors annotate it
    if team_obj is not None or assignee_obj is not None:
        policy_require(actor, TICKET_ASSIGN, ticket, {"assignee_id": getattr(assignee_obj, "pk", None),
                                                      "team_id": getattr(team_obj, "pk", None)})
    audit_record(
        actor=actor,
        action="ticket.created",
        target=ticket,
        payload={
            "number": ticket.number,
            "title": ticket.title,
            "requester": requester_user.pk,
            "category": getattr(category_obj, "pk", None),
            "tags": [t.name for t in tag_objs],
            "impact": impact,
            "urgency": urgency,
            "priority": ticket.priority,
            "team": getattr(team_obj, "pk", None),
            "assignee": getattr(assignee_obj, "pk", None),
            "source": source,
        },
    )
    sla.sla_on_ticket_created(ticket)
    events.publish("ticket.created", ticket_id=ticket.pk)
    return ticket


@transaction.atomic
def ticket_update(
    *,
    actor,
    ticket: Ticket,
    title: str = UNSET,
    description: str = UNSET,
    category: Category | int | None = UNSET,
    tags: Sequence[str] = UNSET,
    impact: int = UNSET,
    urgency: int = UNSET,
) -> Ticket:
    """Change the descriptive fields; priority follows impact x urgency (tenant matrix)."""
    policy_require(actor, TICKET_UPDATE, ticket, {})
    ticket = _lock(ticket)
    if ticket.status in workflow.TERMINAL:
        raise Conflict(f"Ticket #{ticket.number} is {ticket.status}; it can no longer be changed.")
    changed: list[str] = []
    changes: dict[str, Any] = {}
    if title is not UNSET:
        title = _clean_title(title)
        if title != ticket.title:
            ticket.title = title
            changed.append("title")
            changes["title"] = title
    if description is not UNSET:
        description = _clean_markdown(description, field="description", label="The description")
        if description != ticket.description:
            ticket.description = description
            ticket.description_html = render_markdown(description)
            changed += ["description", "description_html"]
            changes["description"] = description
    if category is not UNSET:
        category_obj = _resolve_category(category)
        if getattr(category_obj, "pk", None) != ticket.category_id:
            changes["category"] = {"from": ticket.category_id, "to": getattr(category_obj, "pk", None)}
            ticket.category = category_obj
            changed.append("category")
    if impact is not UNSET or urgency is not UNSET:
        new_impact = ticket.impact if impact is UNSET else _clean_level(impact, "impact")
        new_urgency = ticket.urgency if urgency is UNSET else _clean_level(urgency, "urgency")
        if (new_impact, new_urgency) != (ticket.impact, ticket.urgency):
            priority = priority_for(new_impact, new_urgency, priority_matrix_get())
            changes.update(
                impact={"from": ticket.impact, "to": new_impact},
                urgency={"from": ticket.urgency, "to": new_urgency},
                priority={"from": ticket.priority, "to": priority},
            )
            ticket.impact, ticket.urgency, ticket.priority = new_impact, new_urgency, priority
            changed += ["impact", "urgency", "priority"]
    tags_changed = False
    if tags is not UNSET:
        tag_objs = _resolve_tags(tags)
        before = sorted(t.name for t in ticket.tags.all())
        after = sorted(t.name for t in tag_objs)
        if before != after:
            ticket.tags.set(tag_objs)
            tags_changed = True
            changes["tags"] = {"from": before, "to": after}
    if not changed and not tags_changed:
        return ticket
    _touch(ticket, changed)
    if {"priority", "category"} & set(changed):
        sla.sla_on_ticket_changed(ticket, changed)
    if "title" in changed or "description" in changed:
        search_refresh([ticket.pk])
    audit_record(actor=actor, action="ticket.updated", target=ticket, payload={"number": ticket.number, **changes})
    events.publish("ticket.updated", ticket_id=ticket.pk)
    return ticket


@transaction.atomic
def ticket_transition(
    *,
    actor,
    ticket: Ticket,
    to: str,
    reason: str = "",
    resolution_code: str = "",
    resolution_note: str = "",
) -> Ticket:
    """Move the ticket along the workflow map (`workflow.py`).

    Reopening a resolved ticket needs a reason and is refused (429) within
    WARDEN_TICKETS_REOPEN_COOLDOWN_SECONDS of its last reopen; resolving needs a
    resolution code and note; cancelling needs a reason.
    """
    policy_require(actor, TICKET_TRANSITION, ticket, {"to": to, "from": ticket.status})
    ticket = _lock(ticket)
    current = ticket.status
    needs = workflow.check_transition(role=_workflow_role(actor), current=current, target=to)
    reason = _clean_reason(reason or "", required=needs.reason)
    now = timezone.now()
    fields = ["status"]
    payload: dict[str, Any] = {"number": ticket.number, "from": current, "to": to}
    if reason:
        payload["reason"] = reason
    if needs.resolution:
        errors: dict[str, list[str]] = {}
        if resolution_code not in ResolutionCode.values:
            errors["resolution_code"] = [f"Choose a resolution code: {', '.join(ResolutionCode.values)}."]
        try:
            resolution_note = _clean_markdown(
                resolution_note or "", field="resolution_note", label="A resolution note", required=True
            )
        except ApplicationError as exc:
            errors.update(exc.errors)
        if errors:
            raise ApplicationError("Resolving a ticket needs a resolution code and a note.", errors=errors)
        ticket.resolution_code, ticket.resolution_note, ticket.resolved_at = resolution_code, resolution_note, now
        fields += ["resolution_code", "resolution_note", "resolved_at"]
        payload.update(resolution_code=resolution_code, resolution_note=resolution_note)
    if needs.reopen:
        cooldown = int(conf.get("WARDEN_TICKETS_REOPEN_COOLDOWN_SECONDS"))
        if ticket.last_reopened_at is not None and cooldown > 0:
            ready_at = ticket.last_reopened_at + timedelta(seconds=cooldown)
            if ready_at > now:
                wait = int((ready_at - now).total_seconds()) + 1
                raise CooldownActive(
                    f"Ticket #{ticket.number} was reopened recently; it can be reopened again in {wait} s.",
                    retry_after=wait,
                    field="to",
                )
        ticket.last_reopened_at, ticket.reopen_count = now, ticket.reopen_count + 1
        ticket.resolved_at, ticket.resolution_code, ticket.resolution_note = None, "", ""
        fields += ["last_reopened_at", "reopen_count", "resolved_at", "resolution_code", "resolution_note"]
    if to == TicketStatus.CLOSED:
        ticket.closed_at = now
        fields.append("closed_at")
    ticket.status = to
    _touch(ticket, list(dict.fromkeys(fields)), now)
    sla.sla_on_status_changed(ticket, current, to, at=now)
    audit_record(actor=actor, action="ticket.transitioned", target=ticket, payload=payload)
    events.publish("ticket.transitioned", ticket_id=ticket.pk, status_from=current, status_to=to)
    return ticket


@transaction.atomic
def ticket_assign(
    *,
    actor,
    ticket: Ticket,
    assignee: User | int | None = UNSET,
    team: Team | int | None = UNSET,
) -> Ticket:
    """Set the assignee and/or team. The assignee must be an agent, in the team if one is set.

    Changing only the team drops an assignee who is not in the new team.
    """
    policy_require(
        actor,
        TICKET_ASSIGN,
        ticket,
        {
            "assignee_id": None if assignee is UNSET else getattr(assignee, "pk", assignee),
            "team_id": None if team is UNSET else getattr(team, "pk", team),
        },
    )
    ticket = _lock(ticket)
    if ticket.status in workflow.TERMINAL:
        raise Conflict(f"Ticket #{ticket.number} is {ticket.status}; it can no longer be assigned.")
    new_team = ticket.team if team is UNSET else _resolve_team(team)
    new_assignee = ticket.assignee if assignee is UNSET else _resolve_user(assignee, "assignee")
    dropped = None
    if (
        assignee is UNSET
        and new_assignee is not None
        and new_team is not None
        and not TeamMembership.objects.filter(team=new_team, user=new_assignee).exists()
    ):
        dropped, new_assignee = new_assignee.pk, None
    _check_assignment(assignee=new_assignee, team=new_team)
    before = {"assignee": ticket.assignee_id, "team": ticket.team_id}
    after = {"assignee": getattr(new_assignee, "pk", None), "team": getattr(new_team, "pk", None)}
    if before == after:
        return ticket
    ticket.assignee, ticket.team = new_assignee, new_team
    _touch(ticket, ["assignee", "team"])
    if before["team"] != after["team"]:
        sla.sla_on_ticket_changed(ticket, ["team"])
    payload = {"number": ticket.number, "from": before, "to": after}
    if dropped is not None:
        payload["assignee_dropped"] = dropped
    audit_record(actor=actor, action="ticket.assigned", target=ticket, payload=payload)
    events.publish("ticket.assigned", ticket_id=ticket.pk, assignee_id=after["assignee"], team_id=after["team"])
    return ticket


# --- Comments ---------------------------------------------------------------------------

_MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9._%+\-]+(?:@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)?)")


def parse_mentions(body: str) -> tuple[set[str], set[str]]:
    """(emails, names) mentioned in `body` as `@someone@example.com` or `@name`."""
    emails: set[str] = set()
    names: set[str] = set()
    for match in _MENTION.finditer(body or ""):
        token = match.group(1).rstrip(".-")
        if "@" in token:
            emails.add(token.lower())
        elif token:
            names.add(token.lower())
    return emails, names


def _resolve_mentions(*, body: str, ticket: Ticket, internal: bool) -> list[User]:
    """Users named in `body` who may read the comment (so nobody is told about a ticket,
    or an internal note, they cannot see). `@name` matches the email's local part or the
    full name without spaces; an ambiguous name matches nobody."""
    emails, names = parse_mentions(body)
    if not emails and not names:
        return []
    readers = Q(role__in=[Role.AGENT, Role.ADMIN])
    if not internal:
        readers |= Q(pk=ticket.requester_id)
    candidates = (
        User.objects.filter(is_active=True)
        .filter(readers)
        .annotate(compact=Lower(Replace("full_name", Value(" "), Value(""))))
    )
    lookup = Q(email__in=sorted(emails))
    for name in sorted(names)[:20]:
        lookup |= Q(email__istartswith=f"{name}@") | Q(compact=name)
    found = list(candidates.filter(lookup)[:100])
    chosen: dict[int, User] = {}
    for user in found:
        if user.email.lower() in emails:
            chosen[user.pk] = user
    for name in names:
        matches = [u for u in found if u.email.lower().split("@", 1)[0] == name or u.compact == name]
        if len(matches) == 1:
            chosen[matches[0].pk] = matches[0]
    return sorted(chosen.values(), key=lambda u: u.pk)


def _comment_cooldown(actor: User) -> datetime:
    """Refuse a comment within WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS of the author's last
    one; return the time the new comment is written at.

    The author's row is locked (FOR NO KEY UPDATE, until the transaction ends), so two
    comments sent at the same moment are checked one after the other: the second waits for
    the first to commit and then sees it. Reading without the lock, both would find no
    recent comment and both would be written. The caller holds the ticket's lock already
    (tickets first, then anything else: docs/decisions/0006-ticket-lock-order.md).
    """
    seconds = int(conf.get("WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS"))
    if seconds <= 0:
        return timezone.now()
    User.objects.select_for_update(no_key=True).filter(pk=actor.pk).values_list("pk", flat=True).first()
    now = timezone.now()  # after the wait: the other comment's time is in the past now
    last = (
        TicketComment.objects.filter(author=actor, created_at__gt=now - timedelta(seconds=seconds))
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is not None:
        wait = max(1, int((last + timedelta(seconds=seconds) - now).total_seconds()) + 1)
        raise CooldownActive(f"You commented a moment ago; wait {wait} s before commenting again.", retry_after=wait,
                             field="body")
    return now


@transaction.atomic
def comment_add(*, actor, ticket: Ticket, body: str, internal: bool = False) -> TicketComment:
    """Add a comment (Markdown). Internal notes are for agents only and never reach the
    requester. An agent's first public comment sets `first_response_at` (and opens a new
    ticket); a requester's comment on a pending ticket puts it back to open."""
    policy_require(actor, TICKET_COMMENT, ticket, {"internal": bool(internal)})
    author = _require_user(actor, "comment")
    is_agent = permissions.is_agent(author)
    if internal and not is_agent:
        raise PermissionDenied("Only agents can write internal notes.")
    body = _clean_markdown(body, field="body", label="The comment", required=True)
    ticket = _lock(ticket)
    now = _comment_cooldown(author)  # after the ticket: lock order, docs/decisions/0006
    if ticket.status in workflow.TERMINAL and not internal:
        raise Conflict(
            f"Ticket #{ticket.number} is {ticket.status}; only internal notes can be added.",
            errors={"body": [f"The ticket is {ticket.status}."]},
        )
    comment = TicketComment.objects.create(
        ticket=ticket, author=author, body=body, body_html=render_markdown(body), internal=bool(internal), created_at=now
    )
    mentioned = _resolve_mentions(body=body, ticket=ticket, internal=bool(internal))
    if mentioned:
        comment.mentions.set(mentioned)
    fields: list[str] = []
    status_from = ticket.status
    if not internal and is_agent and author.pk != ticket.requester_id:
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            fields.append("first_response_at")
        if ticket.status == TicketStatus.NEW:
            ticket.status = TicketStatus.OPEN
            fields.append("status")
    if not internal and author.pk == ticket.requester_id and ticket.status == TicketStatus.PENDING:
        ticket.status = TicketStatus.OPEN
        fields.append("status")
    _touch(ticket, fields, now)
    if "first_response_at" in fields:
        sla.sla_on_first_response(ticket, at=now)
    if "status" in fields:
        sla.sla_on_status_changed(ticket, status_from, ticket.status, at=now)
    search_append_comment(ticket_id=ticket.pk, body=body, internal=bool(internal))
    payload: dict[str, Any] = {
        "number": ticket.number,
        "comment": comment.pk,
        "internal": bool(internal),
        "mentions": [u.pk for u in mentioned],
        "body": body,
    }
    if "status" in fields:
        payload["status"] = {"from": status_from, "to": ticket.status}
    audit_record(actor=author, action="ticket.commented", target=ticket, payload=payload)
    events.publish(
        "ticket.commented",
        ticket_id=ticket.pk,
        comment_id=comment.pk,
        internal=bool(internal),
        mentioned_ids=[u.pk for u in mentioned],
    )
    comment.ticket = ticket
    return comment


# --- Attachments ------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadLink:
    token: str
    expires_at: datetime


def attachment_add(
    *,
    actor,
    ticket: Ticket,
    fileobj: IO[bytes],
    filename: str,
    size: int | None = None,
    visibility: str = Visibility.PUBLIC,
    comment: TicketComment | None = None,
) -> TicketAttachment:
    """Check, scan and store an upload.

    Refused uploads (name, size, type, malware) are not stored at all: no row, no file;
    the refusal is audited and raised as UploadRejected (problem details with `errors`).
    When the scanner cannot answer, the file is stored but quarantined: it is listed,
    never downloadable (fail closed).

    The bytes are stored inside the transaction that writes the row, and removed again if
    that transaction does not commit (a failing write, audit or COMMIT). Django has no
    on-rollback hook, so the transaction must be this function's own: it is durable, and
    calling it inside another transaction is an error (a later rollback of the caller's
    transaction would leave the bytes behind).
    """
    stored: list[tuple[Any, str]] = []  # (storage, name) of the bytes this call wrote
    try:
        return _attachment_store(
            actor=actor, ticket=ticket, fileobj=fileobj, filename=filename, size=size, visibility=visibility,
            comment=comment, stored=stored,
        )
    except BaseException:
        for storage, name in stored:  # their row was not committed: the bytes may not stay either
            storage.delete(name)
        raise


def _attachment_store(*, actor, ticket, fileobj, filename, size, visibility, comment, stored: list) -> TicketAttachment:
    """`attachment_add` in its own transaction; a refusal is committed (its audit event)
    and then raised. Appends to `stored` what it writes to storage."""
    from . import uploads

    rejection: ApplicationError | None = None
    with transaction.atomic(durable=True):
        policy_require(actor, TICKET_COMMENT, ticket, {"attachment": True, "visibility": visibility})
        uploader = _require_user(actor, "upload files")
        if visibility not in Visibility.values:
            raise ApplicationError(
                f"Unknown visibility {visibility!r}.", errors={"visibility": ["Use public or internal."]}
            )
        if comment is not None and comment.ticket_id != ticket.pk:
            raise ApplicationError("That comment belongs to another ticket.", errors={"comment": ["Wrong ticket."]})
        if comment is not None and comment.internal:
            visibility = Visibility.INTERNAL
        if visibility == Visibility.INTERNAL and not permissions.is_agent(uploader):
            raise PermissionDenied("Only agents can add internal attachments.")
        ticket = _lock(ticket)
        if ticket.status in workflow.TERMINAL and visibility == Visibility.PUBLIC:
            raise Conflict(f"Ticket #{ticket.number} is {ticket.status}; files can no longer be added.")
        limit = conf.get("WARDEN_TICKETS_MAX_ATTACHMENTS_PER_TICKET")
        if TicketAttachment.objects.filter(ticket=ticket).count() >= limit:
            raise Conflict(f"Ticket #{ticket.number} already has {limit} attachments, the maximum.",
                           errors={"file": [f"At most {limit} attachments per ticket."]})
        try:
            inspected = uploads.inspect(fileobj=fileobj, filename=filename, size=size)
        except uploads.UploadRejected as exc:
            rejection = exc
            _audit_rejection(uploader, ticket, filename, exc)
        else:
            attachment = TicketAttachment(
                ticket=ticket,
                comment=comment,
                original_name=inspected.filename,
                size=inspected.size,
                content_type=inspected.mime,
                sha256=inspected.sha256,
                visibility=visibility,
                scan_status=ScanStatus.CLEAN if inspected.clean else ScanStatus.QUARANTINED,
                scan_detail=inspected.scan_detail[:200],
                uploaded_by=uploader,
                created_at=timezone.now(),
            )
            # The bytes are written last: any failure before leaves nothing on disk; any
            # failure after (the row, the audit event, the COMMIT) makes the caller delete them.
            attachment.file.save(inspected.filename, fileobj, save=False)
            stored.append((attachment.file.storage, attachment.file.name))
            attachment.save(force_insert=True)
            _touch(ticket, [])
            audit_record(
                actor=uploader,
                action="attachment.added" if inspected.clean else "attachment.quarantined",
                target=attachment,
                payload={
                    "number": ticket.number,
                    "file_name": attachment.original_name,
                    "size": attachment.size,
                    "content_type": attachment.content_type,
                    "sha256": attachment.sha256,
                    "visibility": visibility,
                    "scan_status": attachment.scan_status,
                    "scan_detail": attachment.scan_detail,
                },
            )
            events.publish("attachment.added", ticket_id=ticket.pk, attachment_id=attachment.pk)
            return attachment
    # The refusal (and its audit event) is committed; nothing of the file was kept.
    assert rejection is not None
    raise rejection


def _audit_rejection(uploader: User, ticket: Ticket, filename: str, exc: ApplicationError) -> None:
    from . import uploads

    audit_record(
        actor=uploader,
        action="attachment.rejected",
        target=ticket,
        payload={"number": ticket.number, "file_name": uploads.display_name(filename) if filename else "",
                 "code": getattr(exc, "code", ""), "reason": exc.message},
    )


@transaction.atomic
def attachment_refusal_record(*, actor, ticket: Ticket, refusal: ApplicationError, filename: str = "") -> None:
    """Audit an upload refused before it reached `attachment_add`: the request body was
    refused while it streamed in (too large), so nothing of it was kept. A caller who may
    not add files to the ticket gets that refusal (403) instead."""
    policy_require(actor, TICKET_COMMENT, ticket, {"attachment": True})
    uploader = _require_user(actor, "upload files")
    _audit_rejection(uploader, ticket, filename, refusal)


@transaction.atomic
def attachment_rescan(*, actor, attachment: TicketAttachment) -> TicketAttachment:
    """Scan a quarantined attachment again (e.g. once ClamAV is back).

    Clean and unaltered: it becomes downloadable. Infected: its bytes are deleted after
    commit and it stays quarantined for good. Still no verdict: nothing changes.
    """
    from . import uploads

    policy_require(actor, TICKET_UPDATE, attachment.ticket, {"attachment": attachment.pk, "operation": "rescan"})
    # no_key: the joined ticket row is locked too; FOR NO KEY UPDATE, as `_lock` (ADR 0006).
    attachment = TicketAttachment.objects.select_for_update(no_key=True).select_related("ticket").get(pk=attachment.pk)
    if attachment.scan_status == ScanStatus.CLEAN:
        return attachment
    with attachment.file.open("rb") as handle:
        verdict = uploads.rescan(handle)
        unaltered = uploads.digest(handle) == attachment.sha256
    if verdict.status == uploads.UNSCANNED:
        return attachment
    if verdict.status == uploads.INFECTED or not unaltered:
        infected = verdict.status == uploads.INFECTED
        attachment.scan_detail = (f"infected: {verdict.signature}" if infected else "sha256 mismatch")[:200]
        attachment.save(update_fields=["scan_detail"])
        storage, name = attachment.file.storage, attachment.file.name
        transaction.on_commit(lambda: storage.delete(name))
    else:
        attachment.scan_status, attachment.scan_detail = ScanStatus.CLEAN, ""
        attachment.save(update_fields=["scan_status", "scan_detail"])
    audit_record(
        actor=actor,
        action="attachment.rescanned",
        target=attachment,
        payload={"number": attachment.ticket.number, "scan_status": attachment.scan_status,
                 "scan_detail": attachment.scan_detail},
    )
    return attachment


def attachment_download_link(*, actor, attachment: TicketAttachment) -> DownloadLink:
    """A signed, short-lived URL token for one attachment `actor` can see (audited)."""
    from . import uploads

    with transaction.atomic():
        policy_require(actor, TICKET_VIEW, attachment.ticket, {"attachment": attachment.pk})
        user = _require_user(actor, "download files")
        if attachment.scan_status != ScanStatus.CLEAN:
            raise Conflict(
                f"“{attachment.original_name}” is quarantined: the virus scanner could not check it, "
                "so it cannot be downloaded.",
            )
        ttl = int(conf.get("WARDEN_TICKETS_DOWNLOAD_TTL_SECONDS"))
        token = uploads.make_token(attachment_id=attachment.pk, user_id=user.pk, ttl_seconds=ttl)
        expires_at = timezone.now() + timedelta(seconds=ttl)
        audit_record(
            actor=user,
            action="attachment.link_issued",
            target=attachment,
            payload={"number": attachment.ticket.number, "expires_at": expires_at.isoformat()},
        )
    return DownloadLink(token=token, expires_at=expires_at)


def attachment_download(*, actor, token: str) -> tuple[TicketAttachment, IO[bytes]]:
    """The attachment named by a download token and its opened file, checked and audited.

    The token only works for the user it was issued to (`actor`), in its tenant, within
    its lifetime. Invalid, foreign or no longer visible: NotFound (404); expired:
    TokenExpired (403). Quarantined: Conflict (409).
    Bytes whose SHA-256 differs from the recorded one: IntegrityFailure (500), audited,
    never served.
    """
    from . import uploads
    from .errors import IntegrityFailure
    from .selectors import attachment_get_for_download

    claims = uploads.read_token(token)
    if getattr(actor, "pk", None) != claims.user_id:
        raise NotFound("This download link is not valid.")
    attachment, user = attachment_get_for_download(user_id=claims.user_id, attachment_id=claims.attachment_id)
    with transaction.atomic():
        policy_require(user, TICKET_VIEW, attachment.ticket, {"attachment": attachment.pk})
        if attachment.scan_status != ScanStatus.CLEAN:
            raise Conflict(f"“{attachment.original_name}” is quarantined and cannot be downloaded.")
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, OSError) as exc:
        _audit_integrity(user, attachment, "missing")
        raise IntegrityFailure("The stored file is missing; it cannot be served.") from exc
    digest = uploads.digest(handle)
    if digest != attachment.sha256:
        handle.close()
        _audit_integrity(user, attachment, "sha256_mismatch", found=digest)
        raise IntegrityFailure("The stored file does not match its checksum; it will not be served.")
    handle.seek(0)
    with transaction.atomic():
        audit_record(
            actor=user,
            action="attachment.downloaded",
            target=attachment,
            payload={"number": attachment.ticket.number, "file_name": attachment.original_name,
                     "sha256": attachment.sha256, "size": attachment.size},
        )
    return attachment, handle


def _audit_integrity(user, attachment: TicketAttachment, problem: str, **extra) -> None:
    logger.error("attachment %s failed its integrity check: %s", attachment.pk, problem)
    with transaction.atomic():
        audit_record(
            actor=user,
            action="attachment.integrity_failed",
            target=attachment,
            payload={"number": attachment.ticket.number, "problem": problem, "sha256": attachment.sha256, **extra},
        )


# --- Categories -------------------------------------------------------------------------


def _clean_category_name(name: str) -> str:
    return clean_text(name, field="name", required=True, single_line=True, max_chars=100, label="The name")


@transaction.atomic
def category_create(*, actor, name: str, parent: Category | int | None = None) -> Category:
    policy_require(actor, CATEGORY_MANAGE, None, {"operation": "create"})
    name = _clean_category_name(name)
    parent_obj = None
    if parent is not None:
        parent_obj = parent if isinstance(parent, Category) else Category.objects.filter(pk=parent).first()
        if parent_obj is None:
            raise ApplicationError("The parent category does not exist.", errors={"parent": ["Unknown category."]})
        if parent_obj.archived:
            raise ApplicationError("The parent category is archived.", errors={"parent": ["This category is archived."]})
    siblings = Category.objects.filter(parent=parent_obj).annotate(lname=Lower("name"))
    if siblings.filter(lname=name.lower()).exists():
        raise ApplicationError(
            f"A category named {name!r} already exists here.", errors={"name": ["Already exists here."]}
        )
    try:
        with transaction.atomic():
            category = Category.objects.create(name=name, parent=parent_obj)
    except IntegrityError as exc:
        raise ApplicationError(f"A category named {name!r} already exists here.",
                               errors={"name": ["Already exists here."]}) from exc
    audit_record(actor=actor, action="category.created", target=category,
                 payload={"name": name, "parent": getattr(parent_obj, "pk", None)})
    return category


def _lock_category_tree() -> None:
    """Serialise changes of the tree's shape in this tenant until the transaction ends.

    Two moves that each look fine alone (A under B, B under A; or longer rings) would
    make a loop if both committed; locking the table in a mode that conflicts with itself
    and with row writes (not with the key-share locks of ticket inserts) rules that out.
    """
    table = connection.ops.quote_name(Category._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")


@transaction.atomic
def category_update(
    *, actor, category: Category, name: str = UNSET, parent: Category | int | None = UNSET
) -> Category:
    """Rename a category and/or move it under another parent (None: to the top level).

    The new parent must exist, be active, and lie outside the category (not itself nor
    one of its descendants: the tree would get a loop). A category whose current parent
    is archived can still be renamed. Moving a category changes which SLA policies match
    the tickets of its subtree (policies name categories with their sub-categories), so
    their clocks are re-targeted after commit.
    """
    policy_require(actor, CATEGORY_MANAGE, category, {"operation": "update"})
    moving = parent is not UNSET and getattr(parent, "pk", parent) != category.parent_id
    if moving:
        _lock_category_tree()
    current = Category.objects.select_for_update().filter(pk=category.pk).first()
    if current is None:
        raise NotFound("The category no longer exists.")
    new_name = current.name if name is UNSET else _clean_category_name(name)
    new_parent = current.parent
    if parent is not UNSET:
        new_parent = parent if isinstance(parent, Category) or parent is None else (
            Category.objects.filter(pk=parent).first()
        )
        if parent is not None and new_parent is None:
            raise ApplicationError("The parent category does not exist.", errors={"parent": ["Unknown category."]})
    new_parent_id = getattr(new_parent, "pk", None)
    if new_parent_id != current.parent_id and new_parent is not None:
        new_parent = Category.objects.get(pk=new_parent_id)  # as stored, not as the caller holds it
        if new_parent.pk == current.pk:
            raise ApplicationError("A category cannot be its own parent.", errors={"parent": ["The category itself."]})
        if new_parent.pk in category_descendant_ids([current.pk]):
            raise ApplicationError(
                f"{new_parent.name!r} lies inside {current.name!r}; a category cannot move below itself.",
                errors={"parent": ["This category lies inside the one being moved."]},
            )
        if new_parent.archived:
            raise ApplicationError("The parent category is archived.", errors={"parent": ["This category is archived."]})
    if new_name == current.name and new_parent_id == current.parent_id:
        return current
    siblings = Category.objects.filter(parent_id=new_parent_id).exclude(pk=current.pk).annotate(lname=Lower("name"))
    if siblings.filter(lname=new_name.lower()).exists():
        raise ApplicationError(
            f"A category named {new_name!r} already exists here.", errors={"name": ["Already exists here."]}
        )
    changes: dict[str, Any] = {}
    if new_name != current.name:
        changes["name"] = {"from": current.name, "to": new_name}
    if new_parent_id != current.parent_id:
        changes["parent"] = {"from": current.parent_id, "to": new_parent_id}
    current.name, current.parent = new_name, new_parent
    try:
        with transaction.atomic():
            current.save(update_fields=["name", "parent"])
    except IntegrityError as exc:
        raise ApplicationError(f"A category named {new_name!r} already exists here.",
                               errors={"name": ["Already exists here."]}) from exc
    if "parent" in changes:
        subtree = category_descendant_ids([current.pk])
        sla.sla_on_tickets_changed(Ticket.objects.filter(category_id__in=subtree).values_list("pk", flat=True))
    audit_record(actor=actor, action="category.updated", target=current, payload=changes)
    return current


@transaction.atomic
def category_archive(*, actor, category: Category) -> list[int]:
    """Archive a category and everything below it. Returns the archived ids."""
    policy_require(actor, CATEGORY_MANAGE, category, {"operation": "archive"})
    ids = sorted(category_descendant_ids([category.pk]))
    updated = list(Category.objects.filter(pk__in=ids, archived=False).values_list("pk", flat=True))
    Category.objects.filter(pk__in=updated).update(archived=True)
    category.archived = True
    audit_record(actor=actor, action="category.archived", target=category, payload={"archived": updated})
    return updated


@transaction.atomic
def category_merge(*, actor, source: Category, target: Category) -> dict[str, int]:
    """Move `source`'s tickets and sub-categories into `target`, then archive `source`.

    A sub-category whose name already exists under `target` is merged into that one
    (recursively). `target` may not be `source` or lie below it, and must be active.
    """
    policy_require(actor, CATEGORY_MANAGE, source, {"operation": "merge", "target": target.pk})
    locked = {c.pk: c for c in Category.objects.select_for_update().filter(pk__in=[source.pk, target.pk])}
    if len(locked) != 2:
        if source.pk == target.pk:
            raise ApplicationError("A category cannot be merged into itself.", errors={"target": ["Same category."]})
        raise NotFound("One of the categories no longer exists.")
    source, target = locked[source.pk], locked[target.pk]
    if target.archived:
        raise ApplicationError(f"The target {target.name!r} is archived.", errors={"target": ["Archived."]})
    if source.archived:
        raise ApplicationError(f"{source.name!r} is already archived.", errors={"source": ["Archived."]})
    tree = category_tree()
    if target.pk in category_descendant_ids([source.pk], tree=tree):
        raise ApplicationError(
            f"{target.name!r} lies inside {source.name!r}; merge into a category outside it.",
            errors={"target": ["The target is inside the source."]},
        )
    totals = {"tickets": 0, "categories": 0}
    moved = list(
        Ticket.objects.filter(category_id__in=category_descendant_ids([source.pk], tree=tree)).values_list("pk", flat=True)
    )
    _merge_into(source, target, totals, now=timezone.now())
    sla.sla_on_tickets_changed(moved)
    audit_record(
        actor=actor,
        action="category.merged",
        target=source,
        payload={"source": source.pk, "target": target.pk, "tickets_moved": totals["tickets"],
                 "categories_moved": totals["categories"]},
    )
    return totals


def _merge_into(source: Category, target: Category, totals: dict[str, int], *, now: datetime) -> None:
    totals["tickets"] += Ticket.objects.filter(category=source).update(category=target, updated_at=now)
    existing = {c.name.lower(): c for c in Category.objects.filter(parent=target)}
    for child in list(Category.objects.filter(parent=source)):
        twin = existing.get(child.name.lower())
        if twin is not None and not twin.archived and not child.archived:
            _merge_into(child, twin, totals, now=now)
        else:
            if twin is not None:  # an archived twin: keep both, renamed to stay unique
                child.name = f"{child.name} ({source.name})"[:100]
            child.parent = target
            child.save(update_fields=["parent", "name"])
            totals["categories"] += 1
    source.archived = True
    source.save(update_fields=["archived"])


# --- Tags -------------------------------------------------------------------------------


def _clean_tag_name(name: str) -> str:
    return clean_text(name, field="name", required=True, single_line=True, max_chars=50, label="The tag")


@transaction.atomic
def tag_create(*, actor, name: str) -> Tag:
    policy_require(actor, TAG_MANAGE, None, {"operation": "create"})
    name = _clean_tag_name(name)
    if Tag.objects.annotate(lname=Lower("name")).filter(lname=name.lower()).exists():
        raise ApplicationError(f"The tag {name!r} already exists.", errors={"name": ["Already exists."]})
    try:
        with transaction.atomic():
            tag = Tag.objects.create(name=name)
    except IntegrityError as exc:  # created by someone else since the check
        raise ApplicationError(f"The tag {name!r} already exists.", errors={"name": ["Already exists."]}) from exc
    audit_record(actor=actor, action="tag.created", target=tag, payload={"name": name})
    return tag


@transaction.atomic
def tag_rename(*, actor, tag: Tag, name: str) -> Tag:
    """Rename a tag (its tickets keep it). The row is re-read and locked: the caller's
    instance may already hold the new name (a bound admin form writes it there)."""
    policy_require(actor, TAG_MANAGE, tag, {"operation": "rename"})
    name = _clean_tag_name(name)
    current = Tag.objects.select_for_update().filter(pk=tag.pk).first()
    if current is None:
        raise NotFound("The tag no longer exists.")
    if name == current.name:
        return current
    if Tag.objects.annotate(lname=Lower("name")).filter(lname=name.lower()).exclude(pk=tag.pk).exists():
        raise ApplicationError(f"The tag {name!r} already exists.", errors={"name": ["Already exists."]})
    previous, current.name = current.name, name
    try:
        with transaction.atomic():
            current.save(update_fields=["name"])
    except IntegrityError as exc:
        raise ApplicationError(f"The tag {name!r} already exists.", errors={"name": ["Already exists."]}) from exc
    audit_record(actor=actor, action="tag.renamed", target=current, payload={"from": previous, "to": name})
    return current


@transaction.atomic
def tag_delete(*, actor, tag: Tag) -> int:
    """Delete a tag (it disappears from its tickets). Returns how many tickets had it."""
    policy_require(actor, TAG_MANAGE, tag, {"operation": "delete"})
    used = tag.tickets.count()
    audit_record(actor=actor, action="tag.deleted", target=tag, payload={"name": tag.name, "tickets": used})
    tag.delete()
    return used


# --- Priority matrix --------------------------------------------------------------------


@transaction.atomic
def priority_matrix_set(*, actor, matrix: dict) -> dict:
    """Replace the tenant's matrix. Existing tickets keep their priority until their
    impact or urgency changes."""
    policy_require(actor, PRIORITY_MATRIX_CHANGE, None, {})
    try:
        clean = validate_matrix(matrix)
    except MatrixInvalid as exc:
        raise ApplicationError(f"The matrix is not valid: {exc}", errors=exc.errors) from exc
    previous = priority_matrix_get()
    row, _ = PriorityMatrix.objects.select_for_update().get_or_create(singleton=True, defaults={"matrix": clean})
    row.matrix = clean
    row.save(update_fields=["matrix", "updated_at"])
    audit_record(actor=actor, action="priority_matrix.changed", target=row, payload={"from": previous, "to": clean})
    return clean
