"""Notifications: the tenant's rules, what each person was told, how it went out on each
channel, and each person's preferences.

* `NotificationRule`: kind -> the roles that hear of it (defaults shipped by a data
  migration; tenant admins edit them).
* `Notification`: one person told of one thing, once (unique per thing and person). It is
  also the in-app entry (read or not).
* `Message`: that notification on one outside channel (email, Slack), once (unique per
  notification and channel), with its state; the outbox delivers each one.
* `Preference` / `ChannelDefault`: per person (and tenant defaults) per kind and channel;
  `Profile`: a person's email digest and quiet hours.
* `Watcher`: agents following a ticket, colleagues a requester copied in.
* `TemplateOverride`: a tenant's own wording for a kind, channel and language.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .kinds import Channel, Kind, Role


class NotificationRule(models.Model):
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices, unique=True)
    recipients = ArrayField(
        models.CharField(max_length=16, choices=Role.choices), default=list, blank=True, verbose_name=_("who is told")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("notification rule")
        verbose_name_plural = _("notification rules")
        ordering = ["kind"]

    def __str__(self) -> str:
        return str(Kind(self.kind).label) if self.kind in Kind.values else self.kind


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("recipient")
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    # What it tells of, once per person: "event:<outbox id>", or "sla:<SLA event id>" for
    # a threshold (told by the rule and by an escalation step: once).
    key = models.CharField(max_length=64)
    event_id = models.BigIntegerField(_("event"))  # the outbox event that told it
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications",
        verbose_name=_("ticket"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("by"),
    )
    # What the in-app entry and the messages say beyond the ticket: ids and identifiers
    # only (a comment id, an SLA threshold), read through the owning app when shown.
    context = models.JSONField(_("context"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["key", "recipient"], name="notification_once")]
        indexes = [
            models.Index(fields=["recipient", "-id"], name="notification_inbox"),
            models.Index(fields=["recipient"], name="notification_unread", condition=models.Q(read_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient_id}"


class MessageStatus(models.TextChoices):
    PENDING = "pending", _("waiting")
    SENT = "sent", _("sent")
    SKIPPED = "skipped", _("not sent")  # quiet hours folded it into a digest, the channel was off, ...
    FAILED = "failed", _("failed")


class Message(models.Model):
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    status = models.CharField(_("status"), max_length=8, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    # When it may go out: now, after the burst window, after quiet hours, at the digest.
    send_after = models.DateTimeField(_("not before"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    batch_key = models.CharField(max_length=64, blank=True)  # the email/Slack message it went out in
    detail = models.CharField(_("detail"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [models.UniqueConstraint(fields=["notification", "channel"], name="message_once")]
        indexes = [
            models.Index(fields=["channel", "send_after"], name="message_pending",
                         condition=models.Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.channel} #{self.notification_id} ({self.status})"


class Digest(models.TextChoices):
    IMMEDIATE = "immediate", _("at once")
    HOURLY = "hourly", _("hourly digest")
    DAILY = "daily", _("daily digest")


class Profile(models.Model):
    """A person's delivery settings (created on first use, with the tenant's defaults)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_profile")
    email_digest = models.CharField(_("email"), max_length=12, choices=Digest.choices, default=Digest.IMMEDIATE)
    quiet_from = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_until = models.TimeField(_("quiet hours until"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification profile")
        verbose_name_plural = _("notification profiles")

    def __str__(self) -> str:
        return f"notification profile of {self.user_id}"


class Preference(models.Model):
    """A person's choice for one kind on one channel (absent: the tenant's default)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences")
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    enabled = models.BooleanField(_("on"))

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [models.UniqueConstraint(fields=["user", "kind", "channel"], name="preference_once")]

    def __str__(self) -> str:
        return f"{self.kind}.{self.channel}={'on' if self.enabled else 'off'}"


class ChannelDefault(models.Model):
    """The tenant admins' default for one kind on one channel (absent: the shipped one)."""

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    enabled = models.BooleanField(_("on"))

    class Meta:
        verbose_name = _("default channel setting")
        verbose_name_plural = _("default channel settings")
        constraints = [models.UniqueConstraint(fields=["kind", "channel"], name="channel_default_once")]

    def __str__(self) -> str:
        return f"{self.kind}.{self.channel}={'on' if self.enabled else 'off'}"


class WatcherKind(models.TextChoices):
    FOLLOWER = "follower", _("follows")  # an agent following the ticket
    CC = "cc", _("in copy")  # a colleague the requester copied in


class Watcher(models.Model):
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="watchers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watching")
    kind = models.CharField(_("kind"), max_length=8, choices=WatcherKind.choices)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        verbose_name = _("watcher")
        verbose_name_plural = _("watchers")
        constraints = [models.UniqueConstraint(fields=["ticket", "user"], name="watcher_once")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} #{self.ticket_id}"


class TemplateOverride(models.Model):
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    subject = models.CharField(_("subject"), max_length=200, blank=True, help_text=_("Email only."))
    body = models.TextField(_("text"))
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(fields=["kind", "channel", "language"], name="template_override_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} / {self.channel} / {self.language}"


class SlackWorkspace(models.Model):
    """The tenant's Slack workspace (one): a bot token, encrypted (apps.core.secrets) and
    never shown back, and which channel each team's notifications go to."""

    name = models.CharField(_("workspace"), max_length=100, blank=True)
    bot_token = models.TextField(_("bot token (encrypted)"), editable=False)
    # For approvals in Slack (apps.triage.slack): requests Slack sends are signed with the
    # signing secret; Socket Mode connects with the app-level token (xapp-). Both
    # encrypted, never shown back. Empty: not configured.
    signing_secret = models.TextField(_("signing secret (encrypted)"), blank=True, editable=False)
    app_token = models.TextField(_("app-level token (encrypted)"), blank=True, editable=False)
    approvals_channel = models.CharField(
        _("approvals channel id"), max_length=40, blank=True,
        help_text=_("Where triage approval cards go when the ticket's team has no Slack channel, e.g. C0123ABCDEF."))
    enabled = models.BooleanField(_("enabled"), default=True)
    disabled_reason = models.CharField(_("why it was switched off"), max_length=300, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("Slack workspace")
        verbose_name_plural = _("Slack workspace")
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="slack_workspace_singleton")]

    def __str__(self) -> str:
        return self.name or "Slack"


class TeamChannel(models.Model):
    """Where a team's notifications go in Slack (besides direct messages to people)."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="slack_channel")
    channel = models.CharField(_("Slack channel id"), max_length=40, help_text=_("e.g. C0123ABCDEF"))

    class Meta:
        verbose_name = _("team channel")
        verbose_name_plural = _("team channels")

    def __str__(self) -> str:
        return self.channel
