"""ServiceNow in the tenant's admin (tenant admins only; registered by the import in
apps/connectors/admin.py): the sync state of each connector (watermark, last run, the
filter, "Sync now"), the incident links (ticket <-> incident, with the incident's page),
and the write-backs, read-only, with their values before and after, their status, and
an "Undo" action. Every change goes through the services (policy, audit)."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin_site import ReadOnlyModelAdmin
from apps.core.errors import ApplicationError
from apps.tickets.admin import ServiceModelAdmin, ServiceModelForm

from ..admin_access import TenantAdminsOnly
from ..admin_access import tenant_admin as _tenant_admin
from .models import IncidentLink, SyncState, WriteBack, WriteBackKind, WriteBackStatus, incident_url
from .services import PollRefused, servicenow_filter_set, servicenow_sync_now, writeback_undo


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value or {}, indent=2, sort_keys=True, ensure_ascii=False))


def _incident_link(base_url: str, sys_id: str, number: str) -> str:
    return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', incident_url(base_url, sys_id),
                       number)


class SyncStateForm(ServiceModelForm):
    class Meta:
        model = SyncState
        fields = ["query_filter"]

    def save_through_service(self, actor):
        return servicenow_filter_set(actor=actor, connector=self.instance.connector,
                                     query_filter=self.cleaned_data.get("query_filter") or "")


@admin.register(SyncState)
class SyncStateAdmin(TenantAdminsOnly, ServiceModelAdmin):
    form = SyncStateForm
    list_display = ("connector", "watermark", "last_finished_at", "last_success_at", "last_error", "imported_total",
                    "updated_total", "running")
    list_select_related = ("connector",)
    readonly_fields = ("connector", "watermark", "lease_until", "integration_user", "last_started_at",
                       "last_finished_at", "last_success_at", "last_error", "summary", "imported_total", "updated_total")
    fields = ("connector", "query_filter", *readonly_fields[1:])
    actions = ("sync_now",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)

    @admin.display(description=_("running"), boolean=True)
    def running(self, obj: SyncState) -> bool:
        return obj.lease_until is not None

    @admin.display(description=_("last poll"))
    def summary(self, obj: SyncState) -> str:
        return _pretty(obj.last_summary)

    @admin.action(description=_("Sync now (one poll)"))
    def sync_now(self, request, queryset):
        for state in queryset.select_related("connector").order_by("pk"):
            try:
                result = servicenow_sync_now(actor=request.user, connector=state.connector)
            except (ApplicationError, PollRefused) as exc:
                self.message_user(request, f"{state.connector.name}: {exc.message}", level=messages.ERROR)
                continue
            self.message_user(request, result.line(), level=messages.WARNING if result.error else messages.SUCCESS)


@admin.register(IncidentLink)
class IncidentLinkAdmin(TenantAdminsOnly, ReadOnlyModelAdmin):
    list_display = ("number_link", "ticket_link", "connector", "sys_mod_count", "sys_updated_on", "updated_at",
                    "sync_note")
    list_filter = ("connector",)
    list_select_related = ("connector", "ticket")
    search_fields = ("number", "sys_id")
    fields = ("connector", "number_link", "sys_id", "ticket_link", "sys_mod_count", "sys_updated_on", "imported_at",
              "updated_at", "sync_note", "stored")
    readonly_fields = fields

    @admin.display(description=_("incident"), ordering="number")
    def number_link(self, obj: IncidentLink) -> str:
        return _incident_link(obj.connector.base_url, obj.sys_id, obj.number)

    @admin.display(description=_("ticket"))
    def ticket_link(self, obj: IncidentLink) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("admin:tickets_ticket_change", args=[obj.ticket_id]),
                           obj.ticket.number)

    @admin.display(description=_("stored about the incident"))
    def stored(self, obj: IncidentLink) -> str:
        return _pretty(obj.snapshot)


@admin.register(WriteBack)
class WriteBackAdmin(TenantAdminsOnly, ReadOnlyModelAdmin):
    """Every write to ServiceNow and every undo, with the values before and after."""

    list_display = ("pk", "created_at", "kind", "number_link", "ticket_link", "written", "status", "dry_run",
                    "requested_by_label", "sent_at", "detail")
    list_filter = ("status", "kind", "dry_run", "connector")
    list_select_related = ("connector", "ticket")
    search_fields = ("number", "sys_id", "idempotency_key")
    fields = ("connector", "kind", "undo_of", "number_link", "ticket_link", "status", "detail", "dry_run",
              "values_before", "values_written", "expected_mod_count", "found_mod_count", "result_mod_count",
              "idempotency_key", "requested_by_label", "approved_by_label", "attempts", "created_at", "sent_at",
              "undone_at")
    readonly_fields = fields
    actions = ("undo_selected",)

    def get_actions(self, request):
        actions = super(ReadOnlyModelAdmin, self).get_actions(request)
        return actions if _tenant_admin(request) else {}

    @admin.display(description=_("incident"), ordering="number")
    def number_link(self, obj: WriteBack) -> str:
        return _incident_link(obj.connector.base_url, obj.sys_id, obj.number)

    @admin.display(description=_("ticket"))
    def ticket_link(self, obj: WriteBack) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("admin:tickets_ticket_change", args=[obj.ticket_id]),
                           obj.ticket.number)

    @admin.display(description=_("fields"))
    def written(self, obj: WriteBack) -> str:
        return ", ".join(obj.fields)

    @admin.display(description=_("values before"))
    def values_before(self, obj: WriteBack) -> str:
        return _pretty(obj.prior_values)

    @admin.display(description=_("values written"))
    def values_written(self, obj: WriteBack) -> str:
        return _pretty(obj.new_values)

    @admin.action(description=_("Undo selected write-backs"))
    def undo_selected(self, request, queryset):
        for writeback in queryset.filter(kind=WriteBackKind.WRITE).order_by("pk"):
            try:
                undo = writeback_undo(actor=request.user, writeback=writeback,
                                      reason=f"undone in the admin by {request.user.email}")
            except ApplicationError as exc:
                self.message_user(request, f"#{writeback.pk}: {exc.message}", level=messages.ERROR)
                continue
            ok = undo.status in (WriteBackStatus.SENT, WriteBackStatus.DRY_RUN)
            self.message_user(request, f"#{writeback.pk}: undo {undo.get_status_display()}"
                              + (f" ({undo.detail})" if undo.detail else ""),
                              level=messages.SUCCESS if ok else messages.WARNING)
