"""Writes of the ticket itself: open, change, move along the workflow, assign."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts import permissions
from apps.accounts.models import Team, TeamMembership, User
from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, Conflict, PermissionDenied
from apps.events.services.emit import emit
from apps.policies.services import policy_require

from .. import conf, workflow
from .. import events as ev
from ..actions import TICKET_UPDATE
from ..choices import RESOLUTION_CODE_IN_LIST, Level, ResolutionCode, TicketSource, TicketStatus
from ..errors import CooldownActive
from ..markdown import render_markdown
from ..models import Category, Ticket
from ..priority import priority_for
from ..search import new_ticket_vectors, search_learn_text, search_refresh
from ..selectors import priority_matrix_get, routing_for
from .common import (
    TICKET_ASSIGN,
    TICKET_CREATE,
    TICKET_TRANSITION,
    UNSET,
    check_assignment,
    clean_level,
    clean_markdown,
    clean_reason,
    clean_title,
    emit_status_change,
    lock_ticket,
    next_number,
    resolve_category,
    resolve_tags,
    resolve_team,
    resolve_user,
    touch,
    workflow_role,
)

logger = logging.getLogger(__name__)

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
    follow_up_of: Ticket | None = None,
) -> Ticket:
    """Open a ticket. `requester` defaults to `actor`; only agents open tickets for others.

    Without a chosen team the ticket is routed (whatever its source): to the team of the
    ticket it follows up (`follow_up_of`, set by `reply_add`), else to its category's
    default team (the nearest ancestor's), else to the tenant's default team (help-desk
    settings). A routed team is the help desk's configuration, not the actor's choice, so
    it needs no `ticket.assign` decision; a chosen assignee who is not in the routed team
    keeps the ticket without a team (the explicit choice wins)."""
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
        raise PermissionDenied(_("Only agents open tickets on behalf of someone else."))
    requester_user = resolve_user(requester, "requester") if requester is not None else actor
    if not isinstance(requester_user, User) or not requester_user.is_active:
        raise ApplicationError(_("A ticket needs an active requester."), errors={"requester": [_("Unknown or inactive user.")]})
    if (team is not None or assignee is not None) and actor is not None and not permissions.is_agent(actor):
        raise PermissionDenied(_("Only agents choose the team or assignee of a ticket."))
    if source not in TicketSource.values:
        raise ApplicationError(
            _("Unknown source %(source)r.") % {"source": source},
            errors={"source": [_("Use one of %(values)s.") % {"values": ", ".join(TicketSource.values)}]},
        )
    title = clean_title(title)
    description = clean_markdown(description, field="description", label=_("The description"))
    impact = clean_level(impact, "impact")
    urgency = clean_level(urgency, "urgency")
    category_obj = resolve_category(category)
    tag_objs = resolve_tags(tags)
    team_obj = resolve_team(team)
    assignee_obj = resolve_user(assignee, "assignee")
    check_assignment(assignee=assignee_obj, team=team_obj)
    chosen = team_obj is not None or assignee_obj is not None
    team_from = "chosen" if team_obj is not None else None
    if team_obj is None:
        team_obj, team_from = _routed_team(category=category_obj, follow_up_of=follow_up_of, assignee=assignee_obj)

    now = timezone.now()
    ticket = Ticket.objects.create(
        number=next_number(),
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
        follow_up_of=follow_up_of,
        created_at=now,
        updated_at=now,
        **new_ticket_vectors(title=title, description=description),
    )
    for field in ("search_vector", "search_vector_all"):
        ticket.__dict__.pop(field, None)  # the expression is not the value: load it if ever read
    search_learn_text(title, description)
    if tag_objs:
        ticket.tags.set(tag_objs)
    ticket.tag_names = [tag.name for tag in tag_objs]  # as the selectors annotate it
    if chosen:
        policy_require(actor, TICKET_ASSIGN, ticket, {"assignee_id": getattr(assignee_obj, "pk", None),
                                                      "team_id": getattr(team_obj, "pk", None)})
    extra: dict[str, Any] = {}
    if follow_up_of is not None:
        extra["follow_up_of"] = follow_up_of.number
    audit_record(
        actor=actor,
        action="ticket.created",
        target=ticket,
        payload={
            **extra,
            "number": ticket.number,
            "title": ticket.title,
            "requester": requester_user.pk,
            "category": getattr(category_obj, "pk", None),
            "tags": [t.name for t in tag_objs],
            "impact": impact,
            "urgency": urgency,
            "priority": ticket.priority,
            "team": getattr(team_obj, "pk", None),
            "team_from": team_from,
            "assignee": getattr(assignee_obj, "pk", None),
            "source": source,
        },
    )
    emit(
        ev.TicketCreated(
            ticket_id=ticket.pk,
            requester_id=requester_user.pk,
            source=source,
            team_id=getattr(team_obj, "pk", None),
            assignee_id=getattr(assignee_obj, "pk", None),
        ),
        actor=actor,
        instances=[ticket],
    )
    return ticket


def _routed_team(*, category: Category | None, follow_up_of: Ticket | None, assignee: User | None):
    """(team, where it came from) for a ticket nobody chose a team for; (None, None) when
    nothing is configured, or when the routed team would not contain the chosen assignee."""
    if follow_up_of is not None and follow_up_of.team_id is not None:
        team_id, team_from = follow_up_of.team_id, "follow_up"
    else:
        team_id, team_from = routing_for(category_id=getattr(category, "pk", None))
    if team_id is None:
        return None, None
    if assignee is not None and not TeamMembership.objects.filter(team_id=team_id, user=assignee).exists():
        return None, None
    return Team.objects.get(pk=team_id), team_from


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
    ticket = lock_ticket(ticket)
    if ticket.status in workflow.TERMINAL:
        raise Conflict(_("Ticket #%(number)s is %(status)s; it can no longer be changed.")
                       % {"number": ticket.number, "status": workflow.status_word(ticket.status)})
    changed: list[str] = []
    changes: dict[str, Any] = {}
    if title is not UNSET:
        title = clean_title(title)
        if title != ticket.title:
            ticket.title = title
            changed.append("title")
            changes["title"] = title
    if description is not UNSET:
        description = clean_markdown(description, field="description", label=_("The description"))
        if description != ticket.description:
            ticket.description = description
            ticket.description_html = render_markdown(description)
            changed += ["description", "description_html"]
            changes["description"] = description
    if category is not UNSET:
        category_obj = resolve_category(category)
        if getattr(category_obj, "pk", None) != ticket.category_id:
            changes["category"] = {"from": ticket.category_id, "to": getattr(category_obj, "pk", None)}
            ticket.category = category_obj
            changed.append("category")
    if impact is not UNSET or urgency is not UNSET:
        new_impact = ticket.impact if impact is UNSET else clean_level(impact, "impact")
        new_urgency = ticket.urgency if urgency is UNSET else clean_level(urgency, "urgency")
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
        tag_objs = resolve_tags(tags)
        before = sorted(t.name for t in ticket.tags.all())
        after = sorted(t.name for t in tag_objs)
        if before != after:
            ticket.tags.set(tag_objs)
            tags_changed = True
            changes["tags"] = {"from": before, "to": after}
    if not changed and not tags_changed:
        return ticket
    touch(ticket, changed)
    if "title" in changed or "description" in changed:
        search_refresh([ticket.pk])
    audit_record(actor=actor, action="ticket.updated", target=ticket, payload={"number": ticket.number, **changes})
    emit(ev.TicketChanged(ticket_id=ticket.pk, fields=list(changes)), actor=actor, instances=[ticket])
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
    automatic: bool = False,
) -> Ticket:
    """Move the ticket along the workflow map (`workflow.py`).

    Reopening a resolved ticket needs a reason and is refused (429) within
    WARDEN_TICKETS_REOPEN_COOLDOWN_SECONDS of its last reopen; resolving needs a
    resolution code and note; cancelling needs a reason. `automatic` marks a move the
    system makes by itself (the auto-close sweep): the system only (actor None).
    """
    policy_require(actor, TICKET_TRANSITION, ticket, {"to": to, "from": ticket.status})
    if automatic and actor is not None:
        raise PermissionDenied(_("Only the system makes automatic transitions."))
    ticket = lock_ticket(ticket)
    return apply_transition(
        actor=actor,
        ticket=ticket,
        to=to,
        reason=reason,
        resolution_code=resolution_code,
        resolution_note=resolution_note,
        extra={"automatic": True} if automatic else None,
        automatic=automatic,
    )


def apply_transition(
    *,
    actor,
    ticket: Ticket,
    to: str,
    reason: str = "",
    resolution_code: str = "",
    resolution_note: str = "",
    by_comment: bool = False,
    reopen_cooldown: bool = True,
    automatic: bool = False,
    extra: dict[str, Any] | None = None,
) -> Ticket:
    """The transition itself, on a ticket the caller has locked (`lock_ticket`) after the
    policies allowed it: workflow check, the write, its audit event (`extra` added to the
    payload) and its events. `ticket_transition` for every caller; a reply's status
    changes (`comments`, `replies`) use it directly, with `by_comment`."""
    current = ticket.status
    needs = workflow.check_transition(role=workflow_role(actor), current=current, target=to)
    reason = clean_reason(reason or "", required=needs.reason)
    now = timezone.now()
    fields = ["status"]
    payload: dict[str, Any] = {"number": ticket.number, "from": current, "to": to}
    if reason:
        payload["reason"] = reason
    if needs.resolution:
        errors: dict[str, list[str]] = {}
        if resolution_code not in ResolutionCode.values:
            errors["resolution_code"] = [
                _("Choose a resolution code: %(codes)s.")
                % {"codes": ", ".join(str(RESOLUTION_CODE_IN_LIST.get(code, code)) for code in ResolutionCode.values)}
            ]
        try:
            resolution_note = clean_markdown(
                resolution_note or "", field="resolution_note", label=_("A resolution note"), required=True
            )
        except ApplicationError as exc:
            errors.update(exc.errors)
        if errors:
            raise ApplicationError(_("Resolving a ticket needs a resolution code and a note."), errors=errors)
        ticket.resolution_code, ticket.resolution_note, ticket.resolved_at = resolution_code, resolution_note, now
        fields += ["resolution_code", "resolution_note", "resolved_at"]
        payload.update(resolution_code=resolution_code, resolution_note=resolution_note)
    if needs.reopen:
        cooldown = int(conf.get("WARDEN_TICKETS_REOPEN_COOLDOWN_SECONDS")) if reopen_cooldown else 0
        if ticket.last_reopened_at is not None and cooldown > 0:
            ready_at = ticket.last_reopened_at + timedelta(seconds=cooldown)
            if ready_at > now:
                wait = int((ready_at - now).total_seconds()) + 1
                raise CooldownActive(
                    _("Ticket #%(number)s was reopened recently; it can be reopened again in %(seconds)s s.")
                    % {"number": ticket.number, "seconds": wait},
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
    touch(ticket, list(dict.fromkeys(fields)), now)
    if needs.resolution or needs.reopen:
        search_refresh([ticket.pk])  # the resolution note is searchable while the ticket has one
    payload.update(extra or {})
    audit_record(actor=actor, action="ticket.transitioned", target=ticket, payload=payload)
    emit_status_change(actor=actor, ticket=ticket, status_from=current, reopened=needs.reopen, by_comment=by_comment,
                       automatic=automatic)
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
    ticket = lock_ticket(ticket)
    if ticket.status in workflow.TERMINAL:
        raise Conflict(_("Ticket #%(number)s is %(status)s; it can no longer be assigned.")
                       % {"number": ticket.number, "status": workflow.status_word(ticket.status)})
    new_team = ticket.team if team is UNSET else resolve_team(team)
    new_assignee = ticket.assignee if assignee is UNSET else resolve_user(assignee, "assignee")
    dropped = None
    if (
        assignee is UNSET
        and new_assignee is not None
        and new_team is not None
        and not TeamMembership.objects.filter(team=new_team, user=new_assignee).exists()
    ):
        dropped, new_assignee = new_assignee.pk, None
    check_assignment(assignee=new_assignee, team=new_team)
    before = {"assignee": ticket.assignee_id, "team": ticket.team_id}
    after = {"assignee": getattr(new_assignee, "pk", None), "team": getattr(new_team, "pk", None)}
    if before == after:
        return ticket
    ticket.assignee, ticket.team = new_assignee, new_team
    touch(ticket, ["assignee", "team"])
    payload = {"number": ticket.number, "from": before, "to": after}
    if dropped is not None:
        payload["assignee_dropped"] = dropped
    audit_record(actor=actor, action="ticket.assigned", target=ticket, payload=payload)
    emit(
        ev.TicketAssigned(
            ticket_id=ticket.pk,
            assignee_id=after["assignee"],
            team_id=after["team"],
            previous_assignee_id=before["assignee"],
            previous_team_id=before["team"],
        ),
        actor=actor,
        instances=[ticket],
    )
    return ticket
