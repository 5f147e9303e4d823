"""A person's in-app notifications: marking them read.

A person's own read marks are their inbox state, like a mail client's: only they change
them (the service checks it), and they are not audit events (docs/decisions/0019-notifications.md)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import PermissionDenied

from ..models import Notification


def _person(actor):
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionDenied(_("Only a signed-in person has notifications."))
    return actor


@transaction.atomic
def notifications_mark_read(*, actor, ids: Sequence[int] = (), everything: bool = False) -> int:
    """Mark the actor's own notifications read (those named, or all). Others' are never
    touched: an id of someone else's notification is ignored. Returns how many changed."""
    person = _person(actor)
    unread = Notification.objects.filter(recipient=person, read_at__isnull=True)
    if not everything:
        unread = unread.filter(pk__in=[int(i) for i in ids])
    return unread.update(read_at=timezone.now())
