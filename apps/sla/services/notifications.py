"""The SLA app's own in-app notifications (until the notifications app takes over)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from apps.core.errors import PermissionDenied

from ..models import SlaNotification


@transaction.atomic
def sla_notification_mark_read(*, actor, notification_ids: Sequence[int]) -> int:
    """Mark the actor's own in-app SLA notifications read."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise PermissionDenied("Only a signed-in user has notifications.")
    return SlaNotification.objects.filter(recipient=actor, pk__in=list(notification_ids), read_at__isnull=True).update(
        read_at=timezone.now()
    )
