"""Comments: public replies and internal notes, with @mentions and the cooldown."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts import permissions
from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core.errors import Conflict, PermissionDenied
from apps.events.services.emit import emit
from apps.policies.services import policy_require

from .. import conf, workflow
from .. import events as ev
from ..choices import ResolvedReply, TicketStatus
from ..errors import CooldownActive
from ..markdown import render_markdown
from ..mentions import drawn, resolve_mentions
from ..models import Ticket, TicketComment
from ..search import search_append_comment
from ..selectors import desk_settings_get
from .common import (
    TICKET_COMMENT,
    TICKET_TRANSITION,
    clean_markdown,
    emit_status_change,
    lock_ticket,
    require_user,
    touch,
)
from .tickets import apply_transition

logger = logging.getLogger(__name__)

# --- Comments ---------------------------------------------------------------------------

def _comment_cooldown(actor: User, *, is_agent: bool) -> datetime:
    """Refuse a requester's comment within WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS of their
    last one; return the time the new comment is written at.

    The cooldown is an abuse guard against requesters only: agents and admins (who write an
    internal note and then a public reply one after the other) are neither checked nor
    locked.

    For a requester, the author's row is locked (FOR NO KEY UPDATE, until the transaction
    ends), so two comments sent at the same moment are checked one after the other: the
    second waits for the first to commit and then sees it. Reading without the lock, both
    would find no recent comment and both would be written. The caller holds the ticket's
    lock already (tickets first, then anything else: docs/decisions/0006-ticket-lock-order.md).
    """
    if is_agent:
        return timezone.now()
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
        raise CooldownActive(_("You commented a moment ago; wait %(seconds)s s before commenting again.")
                             % {"seconds": wait}, retry_after=wait, field="body")
    return now


# What a reply does to its ticket (`reply_kind`).
COMMENT = "comment"  # a comment, nothing more (the status rules below may still move the ticket)
REOPEN = "reopen"  # the requester's public reply on a resolved ticket reopens it
FOLLOW_UP = "follow_up"  # ... closes it and opens a linked follow-up (`replies.reply_add`)
REFUSE = "refuse"  # a public reply on a closed or cancelled ticket that opens nothing

REOPEN_REASON = "The requester replied after the ticket was resolved."


def reply_kind(*, ticket: Ticket, author, internal: bool, resolved_reply: str | None = None) -> str:
    """What a reply by `author` on `ticket` (as it stands) does. Only the ticket's requester
    reopens or follows up; internal notes never move anything. `resolved_reply` is the
    help-desk setting (read when not given)."""
    if internal:
        return COMMENT
    by_requester = getattr(author, "pk", None) == ticket.requester_id
    if ticket.status == TicketStatus.CLOSED and by_requester:
        return FOLLOW_UP  # in both modes: a closed ticket stays closed
    if ticket.status in workflow.TERMINAL:
        return REFUSE
    if ticket.status == TicketStatus.RESOLVED and by_requester:
        setting = resolved_reply or desk_settings_get().resolved_reply
        return FOLLOW_UP if setting == ResolvedReply.FOLLOW_UP else REOPEN
    return COMMENT


@transaction.atomic
def comment_add(*, actor, ticket: Ticket, body: str, internal: bool = False) -> TicketComment:
    """Add a comment (Markdown). Internal notes are for agents only and never reach the
    requester. An agent's first public comment sets `first_response_at` (and opens a new
    ticket); a requester's comment on a pending ticket puts it back to open, and on a
    resolved ticket reopens it (help-desk setting "reopen", the default; policy
    `ticket.transition` asked with `by_comment`; the reopen cooldown does not refuse a
    reply). A requester's reply that opens a follow-up (a closed ticket, or a resolved one
    with the setting "follow-up") is refused here with a Conflict: `reply_add` makes it."""
    policy_require(actor, TICKET_COMMENT, ticket, {"internal": bool(internal)})
    author = require_user(actor, _("comment"))
    is_agent = permissions.is_agent(author)
    if internal and not is_agent:
        raise PermissionDenied(_("Only agents can write internal notes."))
    body = clean_markdown(body, field="body", label=_("The comment"), required=True)
    ticket = lock_ticket(ticket)
    now = _comment_cooldown(author, is_agent=is_agent)  # after the ticket: lock order, docs/decisions/0006
    kind = reply_kind(ticket=ticket, author=author, internal=bool(internal))
    if kind == FOLLOW_UP:
        status = workflow.status_word(ticket.status)
        raise Conflict(
            _("Ticket #%(number)s is %(status)s; a reply from its requester opens a follow-up ticket "
              "(services.reply_add), not a comment.") % {"number": ticket.number, "status": status},
            errors={"body": [_("The ticket is %(status)s.") % {"status": status}]},
        )
    if kind == REFUSE:
        status = workflow.status_word(ticket.status)
        raise Conflict(
            _("Ticket #%(number)s is %(status)s; only internal notes can be added.")
            % {"number": ticket.number, "status": status},
            errors={"body": [_("The ticket is %(status)s.") % {"status": status}]},
        )
    if kind == REOPEN:
        policy_require(author, TICKET_TRANSITION, ticket,
                       {"to": TicketStatus.OPEN, "from": ticket.status, "by_comment": True})
    mentioned = resolve_mentions(body=body, ticket=ticket, internal=bool(internal))
    comment = TicketComment.objects.create(
        ticket=ticket, author=author, body=body, body_html=render_markdown(body, mentions=drawn(body, mentioned)),
        internal=bool(internal), created_at=now,
    )
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
    touch(ticket, fields, now)
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
    emit(
        ev.TicketCommented(
            ticket_id=ticket.pk,
            comment_id=comment.pk,
            author_id=author.pk,
            internal=bool(internal),
            mentioned_ids=[u.pk for u in mentioned],
            first_response="first_response_at" in fields,
        ),
        actor=author,
        instances=[ticket],
    )
    if "status" in fields:
        emit_status_change(actor=author, ticket=ticket, status_from=status_from, by_comment=True)
    if kind == REOPEN:
        ticket = apply_transition(actor=author, ticket=ticket, to=TicketStatus.OPEN, reason=REOPEN_REASON,
                                  by_comment=True, reopen_cooldown=False, extra={"by_comment": comment.pk})
    comment.ticket = ticket
    return comment
