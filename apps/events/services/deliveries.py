"""Deliveries that need a person: retrying failed and dead-lettered ones, and pruning."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from apps.audit.services import audit_record
from apps.policies.services import policy_require

from .. import conf
from ..choices import DeliveryStatus
from ..models import Delivery, OutboxEvent
from .kick import kick_on_commit

OUTBOX_RETRY = "outbox.retry"
RETRYABLE = (DeliveryStatus.FAILED, DeliveryStatus.DEAD)


@transaction.atomic
def delivery_retry(*, actor, delivery_ids: Sequence[int]) -> int:
    """Send failed or dead-lettered deliveries again, now, with a fresh count of
    attempts. Delivered and running ones are left alone. Audited (`outbox.retried`),
    one event for the lot. Returns how many were queued again."""
    policy_require(actor, OUTBOX_RETRY, None, {"deliveries": len(delivery_ids)})
    rows = list(
        Delivery.objects.select_for_update()
        .filter(pk__in=list(delivery_ids), status__in=RETRYABLE)
        .order_by("pk")
        .values_list("pk", "event_id", "subscriber", "status", "attempts")
    )
    if not rows:
        return 0
    Delivery.objects.filter(pk__in=[r[0] for r in rows]).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=Now(), claim=None, updated_at=Now()
    )
    audit_record(
        actor=actor,
        action="outbox.retried",
        target=None,
        payload={
            "deliveries": [
                {"delivery": pk, "event": event_id, "subscriber": subscriber, "was": status, "attempts": attempts}
                for pk, event_id, subscriber, status, attempts in rows[:200]
            ],
            "count": len(rows),
        },
    )
    kick_on_commit()
    return len(rows)


def outbox_prune(*, now=None, batch: int = 5000) -> int:
    """Remove events older than WARDEN_EVENTS_RETENTION_DAYS whose every delivery was
    delivered (or that had none), in batches. Failed and dead-lettered deliveries (and
    their events) stay until retried. Returns how many events were removed."""
    cutoff = (now or timezone.now()) - timedelta(days=int(conf.get("WARDEN_EVENTS_RETENTION_DAYS")))
    removed = 0
    while True:
        with transaction.atomic():
            ids = list(
                OutboxEvent.objects.filter(occurred_at__lt=cutoff)
                .exclude(deliveries__status__in=[s for s in DeliveryStatus if s != DeliveryStatus.DONE])
                .order_by("id")
                .values_list("id", flat=True)[:batch]
            )
            if not ids:
                break
            OutboxEvent.objects.filter(pk__in=ids).delete()
        removed += len(ids)
        if len(ids) < batch:
            break
    return removed
