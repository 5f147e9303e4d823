"""What Warden keeps about ServiceNow (imported by apps/connectors/models.py, app label
`connectors`; references by name, so this module imports no other module of the app).

* `IncidentLink`: one incident <-> one Warden ticket, by the connector and the incident's
  `sys_id`, with the `sys_mod_count` and `sys_updated_on` last imported and a snapshot of
  the incident (metadata; the short description and description only for tenants in
  full-content mode). Importing a record again with a `sys_mod_count` not above the
  stored one changes nothing: (sys_id, sys_mod_count) is the de-duplication key.
* `SyncState`: one per connector: the watermark (the `sys_updated_on` of the last record
  committed), an optional filter (an encoded query an admin set), the lease that keeps
  a second poll from running at the same time, the last run's outcome, and the
  integration user imported tickets are requested by when the caller is not a Warden user.
* `WriteBack`: one governed write to an incident (or the undo of one): what was asked,
  the values before and after, the `sys_mod_count` it was decided on and the one it
  produced, its status, and an idempotency key that is unique.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WriteBackStatus(models.TextChoices):
    PENDING = "pending", _("being sent")
    DRY_RUN = "dry_run", _("dry run (recorded, not sent)")
    SENT = "sent", _("sent")
    CONFLICT = "conflict", _("conflict (the record changed; nothing written)")
    DENIED = "denied", _("denied by policy")
    CAPPED = "capped", _("daily write cap reached")
    FAILED = "failed", _("failed")
    UNDONE = "undone", _("undone")


class WriteBackKind(models.TextChoices):
    WRITE = "write", _("write")
    UNDO = "undo", _("undo")


def incident_url(base_url: str, sys_id: str) -> str:
    """The incident's page in ServiceNow's UI."""
    return f"{base_url.rstrip('/')}/nav_to.do?uri=incident.do%3Fsys_id%3D{sys_id}"


class IncidentLink(models.Model):
    connector = models.ForeignKey("connectors.Connector", on_delete=models.CASCADE, related_name="servicenow_links",
                                  verbose_name=_("connector"))
    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, related_name="servicenow_link",
                                  verbose_name=_("ticket"))
    sys_id = models.CharField(_("sys_id"), max_length=32)
    number = models.CharField(_("number"), max_length=40)
    sys_mod_count = models.PositiveIntegerField(_("sys_mod_count imported"))
    sys_updated_on = models.DateTimeField(_("sys_updated_on imported"))
    snapshot = models.JSONField(_("incident snapshot"), default=dict)
    sync_note = models.CharField(_("last sync note"), max_length=300, blank=True)
    imported_at = models.DateTimeField(_("imported"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        app_label = "connectors"
        verbose_name = _("ServiceNow incident link")
        verbose_name_plural = _("ServiceNow incident links")
        ordering = ["-sys_updated_on", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "sys_id"], name="servicenow_link_once"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def url(self) -> str:
        return incident_url(self.connector.base_url, self.sys_id)


class SyncState(models.Model):
    connector = models.OneToOneField("connectors.Connector", on_delete=models.CASCADE, related_name="servicenow_sync",
                                     verbose_name=_("connector"))
    watermark = models.DateTimeField(_("watermark (sys_updated_on)"), null=True, blank=True,
                                     help_text=_("The last record committed; the next poll reads from here, minus the "
                                                 "overlap window."))
    query_filter = models.CharField(
        _("filter"), max_length=500, blank=True,
        help_text=_("An encoded query ANDed to every poll, e.g. active=true^assignment_group.name=Service Desk "
                    "(field names are checked; OR and ORDERBY are not accepted)."))
    lease_until = models.DateTimeField(_("poll running until"), null=True, blank=True)
    lease_owner = models.CharField(_("poll run"), max_length=64, blank=True)
    integration_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                         related_name="+", verbose_name=_("integration user"))
    last_started_at = models.DateTimeField(_("last poll started"), null=True, blank=True)
    last_finished_at = models.DateTimeField(_("last poll finished"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last complete poll"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    last_summary = models.JSONField(_("last poll"), default=dict, blank=True)
    imported_total = models.PositiveBigIntegerField(_("incidents imported"), default=0)
    updated_total = models.PositiveBigIntegerField(_("incident changes applied"), default=0)

    class Meta:
        app_label = "connectors"
        verbose_name = _("ServiceNow sync state")
        verbose_name_plural = _("ServiceNow sync states")

    def __str__(self) -> str:
        return f"sync of connector {self.connector_id}"


class WriteBack(models.Model):
    connector = models.ForeignKey("connectors.Connector", on_delete=models.CASCADE,
                                  related_name="servicenow_writebacks", verbose_name=_("connector"))
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="servicenow_writebacks",
                               verbose_name=_("ticket"))
    sys_id = models.CharField(_("sys_id"), max_length=32)
    number = models.CharField(_("number"), max_length=40)
    kind = models.CharField(_("kind"), max_length=8, choices=WriteBackKind.choices, default=WriteBackKind.WRITE)
    undo_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="undos",
                                verbose_name=_("undoes"))
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    new_values = models.JSONField(_("values written"), default=dict)
    prior_values = models.JSONField(_("values before"), default=dict, blank=True)
    expected_mod_count = models.PositiveIntegerField(_("sys_mod_count decided on"))
    found_mod_count = models.PositiveIntegerField(_("sys_mod_count found"), null=True, blank=True)
    result_mod_count = models.PositiveIntegerField(_("sys_mod_count after"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=WriteBackStatus.choices,
                              default=WriteBackStatus.PENDING)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+", verbose_name=_("requested by"))
    requested_by_label = models.CharField(_("requested by (label)"), max_length=200, blank=True)
    approved_by_label = models.CharField(_("approved by"), max_length=200, blank=True)
    dry_run = models.BooleanField(_("dry run"), default=False)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("asked"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        app_label = "connectors"
        verbose_name = _("ServiceNow write-back")
        verbose_name_plural = _("ServiceNow write-backs")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["connector", "status", "sent_at"], name="servicenow_wb_sent"),
            models.Index(fields=["ticket", "-created_at"], name="servicenow_wb_ticket"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in WriteBackStatus]), name="servicenow_wb_status_valid"),
            models.CheckConstraint(
                condition=models.Q(kind="write", undo_of__isnull=True) | models.Q(kind="undo", undo_of__isnull=False),
                name="servicenow_wb_undo_has_target"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.number} ({self.status})"

    @property
    def fields(self) -> list[str]:
        return sorted(self.new_values)
