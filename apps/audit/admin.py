"""Read-only admin for the audit chain: nobody adds, changes or deletes events here."""

from __future__ import annotations

import json

from django.contrib import admin
from django.db import connection
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin_site import ReadOnlyModelAdmin

from .models import AuditCheckpoint, AuditEvent

# The families of audit actions, by prefix: a fixed list, so the filter costs no query
# (a list filter on `action` itself would run SELECT DISTINCT over the whole chain).
ACTION_AREAS = (
    ("admin", _("Admin changes")),
    ("auth", _("Sign-in and MFA")),
    ("evidence", _("Evidence packs")),
    ("operator", _("Operator commands")),
    ("outbox", _("Event deliveries")),
    ("policy", _("Policies and decisions")),
    ("residency", _("Residency")),
    ("sla", _("SLA")),
    ("team", _("Teams")),
    ("tenant", _("Tenant")),
    ("ticket", _("Tickets")),
    ("user", _("Users")),
)


class ActionAreaFilter(admin.SimpleListFilter):
    title = _("action area")
    parameter_name = "area"

    def lookups(self, request, model_admin):
        return ACTION_AREAS

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action__startswith=f"{self.value()}.")
        return queryset


class ActorKindFilter(admin.SimpleListFilter):
    """People versus the system, platform and operators: the actor id says it, no DISTINCT
    over labels. One person's events: search their e-mail, or `?actor_id=<id>`."""

    title = _("actor")
    parameter_name = "actor_kind"

    def lookups(self, request, model_admin):
        return (("user", _("Signed-in users")), ("system", _("System, platform and operators")))

    def queryset(self, request, queryset):
        if self.value() == "user":
            return queryset.filter(actor_id__isnull=False)
        if self.value() == "system":
            return queryset.filter(actor_id__isnull=True)
        return queryset


class TargetTypeFilter(admin.SimpleListFilter):
    """What the event is about, from the installed models (no query), or nothing."""

    title = _("target")
    parameter_name = "target_type"

    def lookups(self, request, model_admin):
        from django.apps import apps

        labels = sorted(model._meta.label_lower for model in apps.get_models())
        return [("-", _("(no target)")), *((label, label) for label in labels)]

    def queryset(self, request, queryset):
        if self.value() == "-":
            return queryset.filter(target_type="")
        if self.value():
            return queryset.filter(target_type=self.value())
        return queryset


class _TenantOnly:
    """The audit tables exist only in tenant schemas: hide them on the platform admin."""

    def has_module_permission(self, request) -> bool:
        return connection.schema_name != "public" and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return connection.schema_name != "public" and super().has_view_permission(request, obj)


@admin.register(AuditEvent)
class AuditEventAdmin(_TenantOnly, ReadOnlyModelAdmin):
    list_display = ["seq", "created_at", "actor_label", "action", "target"]
    list_filter = [ActionAreaFilter, ActorKindFilter, TargetTypeFilter]
    date_hierarchy = "created_at"  # drawn by audit_admin.audit_date_hierarchy: no DISTINCT scans
    search_fields = ["action", "actor_label", "target_type", "target_id", "request_id"]
    ordering = ["-seq"]
    list_per_page = 50
    show_full_result_count = False
    actions = None
    fields = [
        "seq",
        "created_at",
        "actor_id",
        "actor_label",
        "action",
        "target_type",
        "target_id",
        "payload_display",
        "request_id",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields

    change_list_template = "admin/audit/auditevent/change_list.html"

    def get_urls(self):
        from django.urls import path

        return [
            path("evidence-pack/", self.admin_site.admin_view(self.evidence_pack_view), name="audit_evidence_pack"),
            *super().get_urls(),
        ]

    def evidence_pack_view(self, request):
        """Download the tenant's evidence pack (POST: it appends an audit event)."""
        from django.http import HttpResponse, HttpResponseNotAllowed

        from .evidence import evidence_pack_build

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        data = evidence_pack_build(tenant=request.tenant, actor=request.user)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="evidence-{request.tenant.slug}-{stamp}.zip"'
        return response

    @admin.display(description=_("target"))
    def target(self, obj: AuditEvent) -> str:
        return obj.target_label

    @admin.display(description=_("payload"))
    def payload_display(self, obj: AuditEvent) -> str:
        data = obj.payload_data
        text = obj.payload_text if data is None else json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(_TenantOnly, ReadOnlyModelAdmin):
    list_display = ["seq", "created_at", "key_id", "algorithm", "hash"]
    ordering = ["-seq"]
    actions = None
    fields = ["seq", "hash", "created_at", "key_id", "algorithm", "signature"]
    readonly_fields = fields
