"""The audit chain of one tenant (lives in every tenant schema).

Rows are written only by `apps.audit.services`; PostgreSQL triggers (migration 0002)
refuse UPDATE, DELETE and TRUNCATE on events and checkpoints. The hash chain and the
signed checkpoints make any change made around the triggers detectable
(`manage.py audit_verify`). docs/audit.md describes the format.
"""

from __future__ import annotations

import json

from django.db import models
from django.utils.translation import gettext_lazy as _

from .verify import CHECKPOINT_ALGORITHM, GENESIS_HASH


class AuditEvent(models.Model):
    """One link of the chain. `seq` is gapless from 1; commit order is seq order."""

    seq = models.BigIntegerField(_("sequence number"), primary_key=True)
    created_at = models.DateTimeField(_("created"))
    # Not a foreign key: the record must outlive the user row and never cascade.
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True)
    actor_label = models.CharField(_("actor"), max_length=320)
    action = models.CharField(_("action"), max_length=100)
    target_type = models.CharField(_("target type"), max_length=100, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    # The exact RFC 8785 bytes that were hashed; never re-serialised.
    payload = models.BinaryField(_("payload"))
    request_id = models.CharField(_("request id"), max_length=128, blank=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["action", "seq"], name="audit_event_action_idx"),
            models.Index(fields=["actor_id", "seq"], name="audit_event_actor_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_event_target_idx"),
            models.Index(fields=["created_at"], name="audit_event_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_event_seq_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_label}"

    @property
    def payload_bytes(self) -> bytes:
        return bytes(self.payload)

    @property
    def payload_text(self) -> str:
        return self.payload_bytes.decode("utf-8", "replace")

    @property
    def payload_data(self) -> object:
        """The payload as a JSON value, or None if the stored bytes are not JSON."""
        try:
            return json.loads(self.payload_bytes)
        except ValueError:
            return None

    @property
    def target_label(self) -> str:
        return f"{self.target_type}:{self.target_id}" if self.target_type else ""


class AuditHead(models.Model):
    """The single row holding the chain's last seq and hash.

    Appends lock it (SELECT ... FOR UPDATE), which serialises them per tenant: the next
    seq is allocated only inside the appending transaction, so a rollback consumes no
    seq and commits happen in seq order.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(_("last sequence number"), default=0)
    hash = models.CharField(_("last hash"), max_length=64, default=GENESIS_HASH)
    updated_at = models.DateTimeField(_("updated"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit head")
        verbose_name_plural = _("audit head")
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="audit_head_single_row"),
            models.CheckConstraint(condition=models.Q(seq__gte=0), name="audit_head_seq_non_negative"),
        ]

    def __str__(self) -> str:
        return f"head #{self.seq}"


class AuditCheckpoint(models.Model):
    """A keyed signature over (tenant, seq, hash): rewriting history before it needs the key."""

    seq = models.BigIntegerField(_("sequence number"), unique=True)
    hash = models.CharField(_("hash at seq"), max_length=64)
    created_at = models.DateTimeField(_("created"))
    key_id = models.CharField(_("key id"), max_length=64)
    signature = models.CharField(_("signature"), max_length=128)
    algorithm = models.CharField(_("algorithm"), max_length=32, default=CHECKPOINT_ALGORITHM)

    class Meta:
        verbose_name = _("audit checkpoint")
        verbose_name_plural = _("audit checkpoints")
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} ({self.key_id})"
