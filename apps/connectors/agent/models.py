"""The customer agent's rows (tenant-local, like every connectors table).

* `Route`: how a connector's calls travel: `direct` (Warden's own HTTP client, to a
  public address) or `agent` (queued for the connector's customer agent).
* `ConnectorAgent`: an agent the tenant's admins registered. Its token is stored as a
  SHA-256 hash only (tokens.py) and shown once; `revoked_at` ends it for good;
  `last_contact_at`, `last_address` and `version` say when and from where it last
  polled, and what it runs.
* `AgentCall`: one HTTP request for an agent to make, and its answer. `queued` until an
  agent claims it (`claimed`, `lease_until`), then `done` (an HTTP answer) or `failed`
  (the agent could not make it, or lost it); `expired` when no answer came in time.
  Headers hold no credentials (the agent adds its own). The bodies are wiped once the
  waiting client has read the answer (metadata-only by default); rows are pruned with
  the recent calls.

Imported into apps/connectors/models.py; this module imports nothing of it (the
Connector is referred to by name).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Route(models.TextChoices):
    DIRECT = "direct", _("direct (from Warden)")
    AGENT = "agent", _("through a customer agent")


class AgentCallStatus(models.TextChoices):
    QUEUED = "queued", _("waiting for the agent")
    CLAIMED = "claimed", _("taken by the agent")
    DONE = "done", _("answered")
    FAILED = "failed", _("failed")
    EXPIRED = "expired", _("expired")


class ConnectorAgent(models.Model):
    name = models.SlugField(_("name"), max_length=64, unique=True,
                            help_text=_("Lower case letters, digits and hyphens, e.g. the site it runs at."))
    token_id = models.CharField(_("token id"), max_length=16, unique=True, editable=False)
    token_hash = models.CharField(_("token hash"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("registered"), default=timezone.now, editable=False)
    created_by = models.CharField(_("registered by"), max_length=200, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)
    revoked_by = models.CharField(_("revoked by"), max_length=200, blank=True, editable=False)
    last_contact_at = models.DateTimeField(_("last contact"), null=True, blank=True, editable=False)
    last_address = models.CharField(_("last address"), max_length=64, blank=True, editable=False)
    version = models.CharField(_("version"), max_length=40, blank=True, editable=False)

    class Meta:
        verbose_name = _("customer agent")
        verbose_name_plural = _("customer agents")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<ConnectorAgent {self.pk} {self.name}{' revoked' if self.revoked_at else ''}>"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AgentCall(models.Model):
    agent = models.ForeignKey(ConnectorAgent, on_delete=models.CASCADE, related_name="calls", verbose_name=_("agent"))
    connector = models.ForeignKey("connectors.Connector", on_delete=models.CASCADE, related_name="agent_calls",
                                  verbose_name=_("connector"))
    method = models.CharField(_("method"), max_length=8)
    url = models.CharField(_("URL"), max_length=2000)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    body = models.BinaryField(_("body"), null=True, blank=True)
    retry_safe = models.BooleanField(_("safe to send twice"), default=False)
    status = models.CharField(_("status"), max_length=8, choices=AgentCallStatus.choices,
                              default=AgentCallStatus.QUEUED)
    claims = models.PositiveSmallIntegerField(_("claims"), default=0)
    created_at = models.DateTimeField(_("queued"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    result_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    result_headers = models.JSONField(_("answer headers"), default=dict, blank=True)
    result_body = models.BinaryField(_("answer body"), null=True, blank=True)
    error_code = models.CharField(_("error"), max_length=40, blank=True)
    error_message = models.CharField(_("error message"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("agent call")
        verbose_name_plural = _("agent calls")
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["agent", "status", "id"], name="agent_call_claimable",
                         condition=models.Q(status__in=["queued", "claimed"])),
            models.Index(fields=["created_at"], name="agent_call_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=["queued", "claimed", "done", "failed", "expired"]),
                                   name="agent_call_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.url.split('?', 1)[0]} ({self.status})"
