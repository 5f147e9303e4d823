"""The transactional outbox: events, and their deliveries to subscribers.

An `OutboxEvent` row is written by `emit()` in the transaction of the business write that
caused it (with that write's audit event), so it exists exactly when the write committed.
A `Delivery` row per (event, subscriber) is written in the same statement; the relay
works them off after commit. Both live in the tenant's schema: an event can only ever
reach the subscribers of its own tenant.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import CLAIMABLE, DeliveryStatus


class OutboxEvent(models.Model):
    event_type = models.CharField(_("event type"), max_length=64)
    version = models.PositiveSmallIntegerField(_("version"))
    payload = models.JSONField(_("payload"), default=dict)
    actor_id = models.BigIntegerField(_("actor (user id)"), null=True, blank=True)
    actor_label = models.CharField(_("actor"), max_length=200, blank=True)
    request_id = models.CharField(_("request id"), max_length=128, blank=True)
    causation_id = models.BigIntegerField(_("caused by event"), null=True, blank=True)
    trail = ArrayField(models.CharField(max_length=100), default=list, blank=True, verbose_name=_("consumer trail"))
    occurred_at = models.DateTimeField(_("occurred"), default=timezone.now)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        ordering = ["-id"]
        indexes = [models.Index(fields=["occurred_at"], name="events_outbox_occurred")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.event_type} v{self.version}"


class Delivery(models.Model):
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event"))
    subscriber = models.CharField(_("subscriber"), max_length=100)
    status = models.CharField(_("status"), max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # When it may be claimed: the next try of a pending or failed delivery, the end of
    # the lease of a running one.
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claim = models.UUIDField(null=True, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    done_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["event", "subscriber"], name="events_delivery_once")]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="events_delivery_due",
                condition=models.Q(status__in=[s.value for s in CLAIMABLE]),
            ),
            models.Index(
                fields=["status", "updated_at"],
                name="events_delivery_troubled",
                condition=models.Q(status__in=[DeliveryStatus.FAILED.value, DeliveryStatus.DEAD.value]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} <- event #{self.event_id} ({self.status})"
