"""Connectors of a tenant (one schema per tenant, so every row here is the tenant's own).

* `Connector`: a configured connection to an outside system (kind, base URL, auth with
  its secret encrypted by apps.core.secrets, status, region, dry run, daily write cap,
  last sync, health). The secret is never shown back: `__repr__` and `__str__` leave it
  out, forms and the API only say whether one is set.
* `ConnectorCall`: one call through the client (recent calls, for the admin), with its
  outcome; pruned after WARDEN_CONNECTORS_CALL_RETENTION_DAYS. Paths only, no query.
* `DeadLetter`: a write that finally failed, kept to be retried or discarded by an admin.
* `ConnectorUsage`: calls per connector per day (metering; kept after a connector is
  deleted, so it holds the connector's id and kind, not a foreign key).
* `ConnectorDomain`: a custom host (pattern) an admin verified, allowed besides the
  kinds' own hosts.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .agent.models import AgentCall, ConnectorAgent, Route  # noqa: F401 - the customer agent (0024)
from .choices import AuthScheme, DeadLetterStatus, Health, Outcome, Status


class Connector(models.Model):
    kind = models.CharField(_("kind"), max_length=32)
    name = models.SlugField(_("name"), max_length=64, unique=True,
                            help_text=_("Lower case letters, digits and hyphens; used by the operator commands."))
    base_url = models.CharField(_("base URL"), max_length=300, help_text=_("https:// on port 443, an allowed host."))
    auth_scheme = models.CharField(_("authentication"), max_length=16, choices=AuthScheme.choices,
                                   default=AuthScheme.BEARER)
    username = models.CharField(_("user name"), max_length=200, blank=True)
    secret = models.TextField(_("secret (encrypted)"), blank=True, editable=False)
    secret_set_at = models.DateTimeField(_("secret set"), null=True, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    disabled_reason = models.CharField(_("why it was disabled"), max_length=300, blank=True)
    region = models.CharField(_("region"), max_length=8)
    dry_run = models.BooleanField(_("dry run"), default=True,
                                  help_text=_("Writes are recorded but not sent."))
    daily_write_cap = models.PositiveIntegerField(_("daily write cap"), default=100)
    last_sync_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    health = models.CharField(_("health"), max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    health_detail = models.CharField(_("health detail"), max_length=300, blank=True)
    health_checked_at = models.DateTimeField(_("health checked"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    # --- customer agent (docs/decisions/0024-customer-agent.md) ---
    route = models.CharField(_("route"), max_length=8, choices=Route.choices, default=Route.DIRECT,
                             help_text=_("Through a customer agent for a system reachable only inside the "
                                         "organisation's network."))
    agent = models.ForeignKey(ConnectorAgent, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="connectors", verbose_name=_("customer agent"))
    # --- end customer agent ---

    class Meta:
        verbose_name = _("connector")
        verbose_name_plural = _("connectors")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=["active", "disabled"]), name="connector_status_valid"),
            models.CheckConstraint(condition=models.Q(route="direct", agent__isnull=True)
                                   | models.Q(route="agent", agent__isnull=False),
                                   name="connector_route_agent"),  # customer agent (0024)
        ]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Connector {self.pk} {self.kind}:{self.name}>"

    @property
    def secret_is_set(self) -> bool:
        return bool(self.secret)


class ConnectorCall(models.Model):
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="calls", verbose_name=_("connector"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    operation = models.CharField(_("operation"), max_length=64, blank=True)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=300)
    write = models.BooleanField(_("write"), default=False)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    address = models.CharField(_("address reached"), max_length=64, blank=True)
    detail = models.CharField(_("detail"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("connector call")
        verbose_name_plural = _("connector calls")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["connector", "-at"], name="connector_call_recent")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.outcome})"


class DeadLetter(models.Model):
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="dead_letters",
                                  verbose_name=_("connector"))
    created_at = models.DateTimeField(_("failed at"), default=timezone.now)
    operation = models.CharField(_("operation"), max_length=64, blank=True)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=1000)
    body = models.JSONField(_("body"), null=True, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=DeadLetterStatus.choices, default=DeadLetterStatus.OPEN)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolved_by = models.CharField(_("resolved by"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("dead letter")
        verbose_name_plural = _("dead letters")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["connector", "status"], name="dead_letter_open",
                                condition=models.Q(status="open"))]

    def __str__(self) -> str:
        return f"{self.method} {self.path.split('?', 1)[0]} ({self.status})"


class ConnectorUsage(models.Model):
    day = models.DateField(_("day"))
    connector_id = models.BigIntegerField(_("connector id"))
    kind = models.CharField(_("kind"), max_length=32)
    calls = models.PositiveIntegerField(_("HTTP requests sent"), default=0)
    writes = models.PositiveIntegerField(_("writes sent"), default=0)
    failures = models.PositiveIntegerField(_("failed calls"), default=0)
    refused = models.PositiveIntegerField(_("calls refused before sending"), default=0)
    dry_runs = models.PositiveIntegerField(_("dry-run writes"), default=0)

    class Meta:
        verbose_name = _("connector usage")
        verbose_name_plural = _("connector usage")
        ordering = ["-day", "connector_id"]
        constraints = [models.UniqueConstraint(fields=["day", "connector_id"], name="connector_usage_once")]

    def __str__(self) -> str:
        return f"{self.day} connector {self.connector_id}: {self.calls}"


class ConnectorDomain(models.Model):
    pattern = models.CharField(_("host"), max_length=253, unique=True,
                               help_text=_("A host name (tickets.example.com) or *.example.com for its sub-domains."))
    note = models.CharField(_("how it was verified"), max_length=300)
    added_by = models.CharField(_("added by"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        verbose_name = _("verified custom domain")
        verbose_name_plural = _("verified custom domains")
        ordering = ["pattern"]

    def __str__(self) -> str:
        return self.pattern


from .models_github import *  # noqa: E402,F403 - GitHub's rows (models_github.py says why they live there)
from .servicenow.models import IncidentLink, SyncState, WriteBack  # noqa: E402, F401 - Django finds models here
