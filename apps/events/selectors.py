"""Reads of the outbox."""

from __future__ import annotations

from django.db.models import Count, Min, Q
from django.utils import timezone

from .choices import DeliveryStatus
from .models import Delivery, OutboxEvent


def outbox_status() -> dict:
    """The current tenant's deliveries by state, and the age of the oldest one waiting."""
    counts = Delivery.objects.exclude(status=DeliveryStatus.DONE).aggregate(
        pending=Count("id", filter=Q(status=DeliveryStatus.PENDING)),
        running=Count("id", filter=Q(status=DeliveryStatus.RUNNING)),
        failed=Count("id", filter=Q(status=DeliveryStatus.FAILED)),
        dead_lettered=Count("id", filter=Q(status=DeliveryStatus.DEAD)),
        oldest=Min("created_at", filter=Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED])),
    )
    oldest = counts.pop("oldest")
    counts["lag_seconds"] = round((timezone.now() - oldest).total_seconds(), 3) if oldest else 0.0
    counts["events"] = OutboxEvent.objects.count()
    return counts


def delivery_list_troubled():
    """Failed and dead-lettered deliveries, newest first, with their events."""
    return (
        Delivery.objects.filter(status__in=[DeliveryStatus.FAILED, DeliveryStatus.DEAD])
        .select_related("event")
        .order_by("-updated_at")
    )
