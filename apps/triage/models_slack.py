"""Triage in Slack: the approval card posted for a proposal, and every interaction Slack
sent (a button click), once each (imported at the end of models.py)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SlackCard(models.Model):
    """The Block Kit card of a proposal in Slack (one per proposal): where it is, so that a
    decision (in Slack, the desk or the API) and the write-back update it (`chat.update`)."""

    proposal = models.OneToOneField("triage.Proposal", on_delete=models.CASCADE, primary_key=True,
                                    related_name="slack_card")
    channel = models.CharField(_("Slack channel id"), max_length=40)
    ts = models.CharField(_("message timestamp"), max_length=32)
    version = models.PositiveIntegerField(_("proposal version shown"))
    state = models.CharField(_("shown as"), max_length=16, blank=True)  # pending, decided, ...: last rendered
    posted_at = models.DateTimeField(_("posted"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("Slack approval card")
        verbose_name_plural = _("Slack approval cards")

    def __str__(self) -> str:
        return f"{self.channel}/{self.ts}"


class SlackInteractionOutcome(models.TextChoices):
    RECEIVED = "received", _("Received")
    APPLIED = "applied", _("Decision recorded")
    REFUSED = "refused", _("Refused")
    UNMAPPED = "unmapped", _("Unknown Slack user")
    IGNORED = "ignored", _("Ignored")


class SlackInteraction(models.Model):
    """One interaction Slack sent, kept once by `key`: over HTTP the SHA-256 of the raw
    signed body (a retried request is the same body), over Socket Mode the envelope id
    (a redelivered envelope keeps it). A second arrival of the same key changes nothing."""

    key = models.CharField(_("dedupe key"), max_length=80, unique=True)
    source = models.CharField(_("received over"), max_length=8)  # http, socket
    received_at = models.DateTimeField(_("received"), default=timezone.now, db_index=True)
    slack_user = models.CharField(_("Slack user id"), max_length=32, blank=True)
    user = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                             verbose_name=_("Warden user"))
    proposal_id = models.BigIntegerField(_("proposal"), null=True, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=16, blank=True)
    outcome = models.CharField(_("outcome"), max_length=12, choices=SlackInteractionOutcome.choices,
                               default=SlackInteractionOutcome.RECEIVED)
    detail = models.CharField(_("detail"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("Slack interaction")
        verbose_name_plural = _("Slack interactions")
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.source}:{self.key[:12]} ({self.outcome})"
