"""Watchers: agents follow tickets; requesters copy colleagues in on their own tickets.

Following is ticket work (policy `ticket.watch`, which the baseline's "agents work
tickets" covers); copying a colleague in is part of the requester's conversation on their
ticket (policy `ticket.comment`, context `cc`). Both audited on the ticket."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from apps.accounts import permissions
from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, PermissionDenied
from apps.policies.services import policy_require

from ..models import Watcher, WatcherKind

TICKET_WATCH = "ticket.watch"
TICKET_COMMENT = "ticket.comment"


@transaction.atomic
def ticket_follow(*, actor, ticket, follow: bool = True) -> bool:
    """The acting agent starts (or stops) following `ticket`. Returns whether they follow."""
    policy_require(actor, TICKET_WATCH, ticket, {"follow": follow})
    if not permissions.is_agent(actor):
        raise PermissionDenied(_("Only agents follow tickets; requesters hear of their own."))
    existing = Watcher.objects.filter(ticket=ticket, user=actor).first()
    if follow and existing is None:
        Watcher.objects.create(ticket=ticket, user=actor, kind=WatcherKind.FOLLOWER, added_by=actor)
        audit_record(actor=actor, action="ticket.followed", target=ticket, payload={"number": ticket.number})
    elif not follow and existing is not None:
        existing.delete()
        audit_record(actor=actor, action="ticket.unfollowed", target=ticket, payload={"number": ticket.number})
    return follow


@transaction.atomic
def ticket_cc_add(*, actor, ticket, email: str) -> Watcher:
    """Copy a colleague of the tenant in on `ticket` (the requester, or an agent for them)."""
    policy_require(actor, TICKET_COMMENT, ticket, {"operation": "cc"})
    if not permissions.is_agent(actor) and actor.pk != ticket.requester_id:
        raise PermissionDenied(_("Only the requester copies people in on their ticket."))
    person = User.objects.filter(email__iexact=(email or "").strip(), is_active=True).first()
    if person is None:
        raise ApplicationError(
            _("Nobody of this organisation has that address."),
            errors={"email": [_("Nobody of this organisation has that address.")]},
        )
    if person.pk == ticket.requester_id:
        raise ApplicationError(
            _("The requester hears of their ticket already."),
            errors={"email": [_("The requester hears of their ticket already.")]},
        )
    watcher, created = Watcher.objects.get_or_create(
        ticket=ticket, user=person, defaults={"kind": WatcherKind.CC, "added_by": actor}
    )
    if created:
        audit_record(actor=actor, action="ticket.cc_added", target=ticket,
                     payload={"number": ticket.number, "person": person.pk})
    return watcher


@transaction.atomic
def ticket_cc_remove(*, actor, ticket, user) -> None:
    """Take `user` off the copy list: the requester (or an agent) removing a colleague, a
    ticket action (policy `ticket.comment`, context `cc`); or the colleague leaving, their
    own notification setting like an unsubscribe (no policy question, audited alike)."""
    leaving = getattr(actor, "pk", None) == user.pk and user.pk != ticket.requester_id
    if not leaving:
        policy_require(actor, TICKET_COMMENT, ticket, {"operation": "cc"})
    if not permissions.is_agent(actor) and actor.pk not in (ticket.requester_id, user.pk):
        raise PermissionDenied(_("Only the requester (or the person copied in) removes a copy."))
    deleted, _by_model = Watcher.objects.filter(ticket=ticket, user=user, kind=WatcherKind.CC).delete()
    if deleted:
        audit_record(actor=actor, action="ticket.cc_removed", target=ticket,
                     payload={"number": ticket.number, "person": user.pk})
