"""Workflow runs in Django admin: read-only, for tenant admins (operators act on runs with
the run_* commands, docs/runbooks/triage-runs.md)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin_site import ReadOnlyModelAdmin
from apps.connectors.admin_access import TenantAdminsOnly

from .models_runs import Run, RunStep


class RunStepInline(TenantAdminsOnly, admin.TabularInline):
    model = RunStep
    extra = 0
    can_delete = False
    fields = ("position", "name", "action", "state", "attempts", "error", "started_at", "finished_at", "output")
    readonly_fields = fields
    ordering = ("position",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(TenantAdminsOnly, ReadOnlyModelAdmin):
    list_display = ("pk", "ticket_number", "template", "template_version", "state", "step", "owner", "started_at",
                    "finished_at")
    list_filter = ("state", "template")
    search_fields = ("ticket__number", "state_reason")
    list_select_related = ("ticket", "owner")
    readonly_fields = ("template", "template_version", "template_hash", "ticket", "proposal", "state", "step",
                       "state_reason", "owner", "context", "started_at", "updated_at", "finished_at")
    inlines = [RunStepInline]

    @admin.display(description=_("ticket"), ordering="ticket__number")
    def ticket_number(self, run: Run) -> str:
        return f"#{run.ticket.number}"
