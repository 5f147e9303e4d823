"""Replies: a comment, or, for a requester's reply on a closed ticket (or on a resolved one
when the help-desk setting says "follow-up"), a new ticket that follows the old one up.

`reply_add` is what the portal and the API call when someone replies; `comment_add`
stays the write of a comment (and reopens a resolved ticket on its requester's reply).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from apps.accounts import permissions
from apps.policies.services import policy_require

from ..choices import TicketSource, TicketStatus
from ..models import Ticket, TicketComment
from .comments import FOLLOW_UP, _comment_cooldown, comment_add, reply_kind
from .common import TICKET_COMMENT, TICKET_TRANSITION, clean_markdown, lock_ticket, require_user
from .tickets import apply_transition, ticket_create

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplyOutcome:
    """What a reply did: `comment` on `ticket` (which it may have `reopened`), or a
    `follow_up` ticket that carries it (then `comment` is None and `ticket` is the old
    ticket, closed)."""

    ticket: Ticket
    comment: TicketComment | None = None
    follow_up: Ticket | None = None
    reopened: bool = False


def follow_up_reason(number: int) -> str:
    return f"The requester replied after the ticket was resolved; the reply opened follow-up #{number}."


@transaction.atomic
def reply_add(
    *, actor, ticket: Ticket, body: str, internal: bool = False, source: str = TicketSource.PORTAL
) -> ReplyOutcome:
    """Reply on `ticket` (Markdown). Policies, checks, audit and events as `comment_add`.

    A requester's public reply on a closed ticket (and on a resolved ticket when the
    help-desk setting `resolved_reply` is "follow_up") opens a follow-up instead: a new
    ticket for the requester with the reply as its description, the old ticket's title,
    category (unless archived since), impact, urgency and team, linked by `follow_up_of`,
    opened through `ticket_create` (`ticket.create` decided for the requester; `source` is
    the channel of the reply). A resolved ticket is then closed by the system
    (`ticket.transition` decided for the system, audited with the follow-up's number;
    `ticket.status_changed` and `ticket.closed` with `by_comment`). A closed ticket stays
    as it is.
    """
    if reply_kind(ticket=ticket, author=actor, internal=bool(internal)) == FOLLOW_UP:
        outcome = _follow_up(actor=actor, ticket=ticket, body=body, source=source)
        if outcome is not None:
            return outcome
    status_before = ticket.status
    comment = comment_add(actor=actor, ticket=ticket, body=body, internal=internal)
    reopened = status_before == TicketStatus.RESOLVED and comment.ticket.status == TicketStatus.OPEN
    return ReplyOutcome(ticket=comment.ticket, comment=comment, reopened=reopened)


def _follow_up(*, actor, ticket: Ticket, body: str, source: str) -> ReplyOutcome | None:
    """The follow-up of a requester's reply; None when the ticket changed meanwhile and
    the reply is a plain comment after all (an agent reopened it: `comment_add` decides)."""
    policy_require(actor, TICKET_COMMENT, ticket, {"internal": False, "follow_up": True})
    author = require_user(actor, _("reply"))
    body = clean_markdown(body, field="body", label=_("The comment"), required=True)
    ticket = lock_ticket(ticket)
    if reply_kind(ticket=ticket, author=author, internal=False) != FOLLOW_UP:
        return None
    _comment_cooldown(author, is_agent=permissions.is_agent(author))  # the requester's pace, as for a comment
    category = ticket.category if ticket.category is not None and not ticket.category.archived else None
    follow_up = ticket_create(
        actor=author,
        requester=author,
        title=ticket.title,
        description=body,
        category=category,
        impact=ticket.impact,
        urgency=ticket.urgency,
        source=source,
        follow_up_of=ticket,
    )
    if ticket.status == TicketStatus.RESOLVED:
        # The help desk's setting closes it, not the requester (who may not close): the system.
        context = {"to": TicketStatus.CLOSED, "from": ticket.status, "by_comment": True}
        policy_require(None, TICKET_TRANSITION, ticket, context)
        ticket = apply_transition(actor=None, ticket=ticket, to=TicketStatus.CLOSED,
                                  reason=follow_up_reason(follow_up.number), by_comment=True,
                                  extra={"follow_up": follow_up.number})
    return ReplyOutcome(ticket=ticket, follow_up=follow_up)
