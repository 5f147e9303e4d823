"""Helpers every tickets service shares: input cleaning, lookups, the row lock."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import Role, Team, TeamMembership, User
from apps.core.errors import ApplicationError, PermissionDenied
from apps.events.services.emit import emit

from .. import conf, workflow
from .. import events as ev
from ..choices import Level, TicketStatus
from ..models import Category, Tag, Ticket
from ..selectors import TICKET_RELATED
from ..text import clean_text

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




def workflow_role(actor) -> str:
    """The role the workflow map applies to `actor` (the system counts as an admin)."""
    if actor is None:
        return workflow.ADMIN
    role = getattr(actor, "role", None)
    if role in workflow.ROLES:
        return role
    return workflow.AGENT  # integrations work tickets like agents; policies still decide


def require_user(actor, what: str) -> User:
    if not isinstance(actor, User) or not actor.is_active:
        raise PermissionDenied(_("Only a signed-in user can %(what)s.") % {"what": what})
    return actor


def clean_title(title: str) -> str:
    return clean_text(
        title,
        field="title",
        required=True,
        single_line=True,
        max_chars=conf.get("WARDEN_TICKETS_TITLE_MAX_CHARS"),
        label=_("The title"),
    )


def clean_markdown(value: str, *, field: str, label: str, required: bool = False) -> str:
    return clean_text(
        value,
        field=field,
        required=required,
        max_bytes=conf.get("WARDEN_TICKETS_BODY_MAX_BYTES"),
        label=label,
    )


def clean_reason(reason: str, *, required: bool, field: str = "reason", label: str | None = None) -> str:
    return clean_text(
        reason, field=field, required=required, max_chars=conf.get("WARDEN_TICKETS_REASON_MAX_CHARS"),
        label=label or _("A reason"),
    )


def clean_level(value, field: str) -> int:
    if isinstance(value, bool) or value not in Level.values:
        message = (_("Urgency must be 1 (high), 2 (medium) or 3 (low).") if field == "urgency"
                   else _("Impact must be 1 (high), 2 (medium) or 3 (low).") if field == "impact"
                   else _("%(field)s must be 1 (high), 2 (medium) or 3 (low).") % {"field": field.capitalize()})
        raise ApplicationError(message, errors={field: [_("Use 1 (high), 2 (medium) or 3 (low).")]})
    return int(value)


def resolve_category(category: Category | int | None) -> Category | None:
    if category is None:
        return None
    if not isinstance(category, Category):
        category = Category.objects.filter(pk=category).first()
        if category is None:
            raise ApplicationError(_("That category does not exist."), errors={"category": [_("Unknown category.")]})
    if category.archived:
        raise ApplicationError(
            _("The category %(name)r is archived; choose another one.") % {"name": category.name},
            errors={"category": [_("This category is archived.")]},
        )
    return category


def resolve_tags(names: Iterable[str]) -> list[Tag]:
    wanted: dict[str, str] = {}
    for raw in names:
        name = clean_text(raw, field="tags", required=True, single_line=True, max_chars=50, label=_("A tag"))
        wanted.setdefault(name.lower(), name)
    limit = conf.get("WARDEN_TICKETS_MAX_TAGS")
    if len(wanted) > limit:
        raise ApplicationError(_("A ticket has at most %(limit)s tags.") % {"limit": limit},
                               errors={"tags": [_("At most %(limit)s tags.") % {"limit": limit}]})
    found = {tag.name.lower(): tag for tag in Tag.objects.annotate(lname=Lower("name")).filter(lname__in=list(wanted))}
    missing = [name for key, name in wanted.items() if key not in found]
    if missing:
        message = _("Unknown tag(s): %(tags)s. A tenant admin creates tags.") % {"tags": ", ".join(sorted(missing))}
        raise ApplicationError(message, errors={"tags": [message]})
    return sorted(found.values(), key=lambda t: t.name.lower())


def check_assignment(*, assignee: User | None, team: Team | None) -> None:
    if assignee is not None:
        if not assignee.is_active or assignee.role not in (Role.AGENT, Role.ADMIN):
            raise ApplicationError(
                _("%(email)s is not an agent; only agents and admins can be assigned.") % {"email": assignee.email},
                errors={"assignee": [_("Only active agents and admins can be assigned.")]},
            )
        if team is not None and not TeamMembership.objects.filter(team=team, user=assignee).exists():
            raise ApplicationError(
                _("%(email)s is not a member of the team %(team)s.") % {"email": assignee.email, "team": team.name},
                errors={"assignee": [_("Not a member of the team %(team)s.") % {"team": team.name}]},
            )


def resolve_user(value: User | int | None, field: str) -> User | None:
    if value is None or isinstance(value, User):
        return value
    user = User.objects.filter(pk=value).first()
    if user is None:
        raise ApplicationError(_("There is no user %(id)s.") % {"id": value}, errors={field: [_("Unknown user.")]})
    return user


def resolve_team(value: Team | int | None) -> Team | None:
    if value is None or isinstance(value, Team):
        return value
    team = Team.objects.filter(pk=value).first()
    if team is None:
        raise ApplicationError(_("There is no team %(id)s.") % {"id": value}, errors={"team": [_("Unknown team.")]})
    return team


def lock_ticket(ticket: Ticket) -> Ticket:
    """The ticket row, locked for the rest of the transaction, with related objects loaded.

    FOR NO KEY UPDATE, not FOR UPDATE: it still excludes other writers, but not the FOR
    KEY SHARE that a foreign-key check takes (the SLA sweep inserting an event for this
    ticket while holding its clocks), which would otherwise deadlock with our own
    clock sync (docs/sla.md, "Locks")."""
    return Ticket.objects.select_for_update(of=("self",), no_key=True).select_related(*TICKET_RELATED).get(pk=ticket.pk)


def next_number() -> int:
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


def touch(ticket: Ticket, fields: list[str], now: datetime | None = None) -> None:
    ticket.updated_at = now or timezone.now()
    ticket.save(update_fields=[*fields, "updated_at"])


def emit_status_change(
    *, actor, ticket: Ticket, status_from: str, by_comment: bool = False, reopened: bool = False,
    automatic: bool = False,
) -> None:
    """The events of a status change the caller just saved: `ticket.status_changed`, and
    `ticket.resolved`, `ticket.closed` or `ticket.reopened` when it is one of those."""
    emit(
        ev.TicketStatusChanged(ticket_id=ticket.pk, status_from=status_from, status_to=ticket.status, by_comment=by_comment),
        actor=actor,
        instances=[ticket],
    )
    if ticket.status == TicketStatus.RESOLVED:
        emit(ev.TicketResolved(ticket_id=ticket.pk, resolution_code=ticket.resolution_code), actor=actor, instances=[ticket])
    elif ticket.status == TicketStatus.CLOSED:
        emit(ev.TicketClosed(ticket_id=ticket.pk, automatic=automatic, by_comment=by_comment), actor=actor,
             instances=[ticket])
    if reopened:
        emit(ev.TicketReopened(ticket_id=ticket.pk, reopen_count=ticket.reopen_count, by_comment=by_comment),
             actor=actor, instances=[ticket])
