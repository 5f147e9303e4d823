"""SLA configuration in the tenant's Django admin.

* Calendars (hours and custom holidays inline) and policies (targets per priority,
  conditions, escalation steps inline): the forms run the services' checks, so a bad
  policy or calendar is refused with the message on the field; saving goes through
  `services.sla_calendar_save` / `sla_policy_save` (policy-checked, audited), never
  through the admin's own saves.
* "What-if": `admin/sla/slapolicy/simulate/` replays the last N days of tickets
  through a (draft) policy.
* Clocks, events, notifications and escalation runs: read-only.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin_site import AuditedByServicesMixin, ReadOnlyModelAdmin, WardenModelAdmin
from apps.accounts.permissions import is_tenant_admin
from apps.core.errors import ApplicationError

from . import services
from .actions import SLA_CONFIGURE, SLA_SIMULATE
from .forms import EscalationFormSet, ShiftFormSet, SimulateForm, SlaCalendarForm, SlaPolicyForm
from .models import (
    SlaCalendar,
    SlaCalendarHoliday,
    SlaCalendarShift,
    SlaClock,
    SlaEscalation,
    SlaEscalationStep,
    SlaEvent,
    SlaPolicy,
)
from .simulation import OUTCOME_LABELS, OUTCOMES, sla_simulate
from .validation import CalendarInput, HolidayInput, ShiftInput


def _tenant_admin(request) -> bool:
    """SLA tables exist only in tenant schemas, and only tenant admins see them."""
    return connection.schema_name != "public" and is_tenant_admin(request.user)


class _TenantAdminsOnly:
    def has_module_permission(self, request) -> bool:
        return _tenant_admin(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)

    def has_add_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)


class _ServiceSavedAdmin(_TenantAdminsOnly, AuditedByServicesMixin, WardenModelAdmin):
    """The policy is asked before the admin's transaction (so a denial stays recorded);
    a refusal raised by the service at save time comes back as a message."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST":
            from apps.policies.decisions import PolicyDenied
            from apps.policies.services import policy_require

            try:
                policy_require(request.user, SLA_CONFIGURE)
            except PolicyDenied as exc:
                raise PermissionDenied(exc.message) from exc
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect(request.get_full_path())

    def save_model(self, request, obj, form, change) -> None:
        """Saved in save_related, through the service, with the inlines."""

    def construct_change_message(self, request, form, formsets, add=False):
        # The inlines are saved by the service, not by formset.save(): describe the change
        # from the main form only (the service's audit event has the full before/after).
        return [{"added": {}}] if add else [{"changed": {"fields": sorted(form.changed_data)}}]


# --- Calendars ------------------------------------------------------------------------------------


class ShiftInline(_TenantAdminsOnly, admin.TabularInline):
    model = SlaCalendarShift
    formset = ShiftFormSet
    extra = 0
    fields = ["weekday", "start", "end"]


class HolidayInline(_TenantAdminsOnly, admin.TabularInline):
    model = SlaCalendarHoliday
    extra = 0
    fields = ["date", "name"]


@admin.register(SlaCalendar)
class SlaCalendarAdmin(_ServiceSavedAdmin):
    form = SlaCalendarForm
    inlines = [ShiftInline, HolidayInline]
    list_display = ["name", "timezone", "always_open", "holiday_country", "holiday_subdivision", "updated_at"]
    search_fields = ["name"]

    def save_related(self, request, form, formsets, change) -> None:
        shifts, holidays = [], []
        for formset in formsets:
            rows = [
                f.cleaned_data for f in formset.forms if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE")
            ]
            if isinstance(formset, ShiftFormSet):
                shifts = [ShiftInput(r["weekday"], r["start"], r["end"]) for r in rows if r.get("start") and r.get("end")]
            else:
                holidays = [HolidayInput(r["date"], r.get("name") or "") for r in rows if r.get("date")]
        data = form.cleaned_data
        services.sla_calendar_save(
            actor=request.user,
            calendar=form.instance,
            data=CalendarInput(
                name=data["name"],
                timezone=data["timezone"],
                always_open=data["always_open"],
                holiday_country=data.get("holiday_country") or "",
                holiday_subdivision=data.get("holiday_subdivision") or "",
                shifts=shifts,
                holidays=holidays,
            ),
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request) and (obj is None or not obj.policies.exists())


# --- Policies -------------------------------------------------------------------------------------


class EscalationInline(_TenantAdminsOnly, admin.TabularInline):
    model = SlaEscalationStep
    formset = EscalationFormSet
    extra = 0
    fields = ["at_percent", "metric", "action", "team", "position"]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(_ServiceSavedAdmin):
    form = SlaPolicyForm
    inlines = [EscalationInline]
    list_display = ["name", "order", "active", "calendar", "priorities", "warning_thresholds", "updated_at"]
    list_filter = ["active", "calendar"]
    list_select_related = ["calendar"]
    search_fields = ["name"]
    filter_horizontal = ["categories", "teams"]
    change_form_template = "admin/sla/slapolicy/change_form.html"

    def get_fieldsets(self, request, obj=None):
        from .forms import TARGET_FIELDS

        targets = [tuple(TARGET_FIELDS[(p, m)] for m in ("first_response", "resolution")) for p in ("P1", "P2", "P3", "P4")]
        return [
            (None, {"fields": ["name", "description", ("order", "active"), "calendar"]}),
            (_("Targets (minutes of business time; empty = no clock)"), {"fields": targets}),
            (_("Conditions (besides the priorities with targets)"), {"fields": ["categories", "teams"]}),
            (_("Clock"), {"fields": ["pause_statuses", "warning_thresholds"]}),
        ]

    @admin.display(description=_("priorities"))
    def priorities(self, obj: SlaPolicy) -> str:
        return ", ".join(sorted(obj.targets or {}))

    def save_related(self, request, form, formsets, change) -> None:
        steps = []
        for formset in formsets:
            if isinstance(formset, EscalationFormSet):
                steps = formset.steps()
        services.sla_policy_save(actor=request.user, data=form.policy_input(steps), policy=form.instance)

    def delete_model(self, request, obj) -> None:
        services.sla_policy_delete(actor=request.user, policy=obj)

    def delete_queryset(self, request, queryset) -> None:
        for policy in queryset:
            services.sla_policy_delete(actor=request.user, policy=policy)

    def get_urls(self):
        simulate = path("simulate/", self.admin_site.admin_view(self.simulate_view), name="sla_slapolicy_simulate")
        return [simulate, *super().get_urls()]

    def simulate_view(self, request):
        if not _tenant_admin(request):
            raise PermissionDenied
        result = None
        form = SimulateForm(request.GET or None, initial={"days": 30})
        if request.GET and form.is_valid():
            from apps.policies.decisions import PolicyDenied
            from apps.policies.services import policy_require

            try:
                policy_require(request.user, SLA_SIMULATE, form.cleaned_data["policy"])
            except PolicyDenied as exc:
                raise PermissionDenied(exc.message) from exc
            result = sla_simulate(policy=form.cleaned_data["policy"], days=form.cleaned_data["days"])
        context = {
            **self.admin_site.each_context(request),
            "title": _("What-if: replay recent tickets through a policy"),
            "opts": self.model._meta,
            "form": form,
            "result": result,
            "outcomes": [OUTCOME_LABELS[o] for o in OUTCOMES],
        }
        return TemplateResponse(request, "admin/sla/slapolicy/simulate.html", context)


# --- Read-only views of the machinery --------------------------------------------------------------


class _ReadOnly(_TenantAdminsOnly, ReadOnlyModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _ticket_link(ticket_id: int, number: int) -> str:
    try:
        url = reverse("admin:tickets_ticket_change", args=[ticket_id])
    except Exception:  # the tickets admin may not register tickets
        return f"#{number}"
    return format_html('<a href="{}">#{}</a>', url, number)


@admin.register(SlaClock)
class SlaClockAdmin(_ReadOnly):
    list_display = ["ticket_ref", "metric", "state", "policy", "started_at", "due_at", "paused_at", "met_at", "breached_at"]
    list_filter = ["state", "metric", "policy"]
    list_select_related = ["ticket", "policy"]
    show_full_result_count = False
    ordering = ["-started_at"]

    @admin.display(description=_("ticket"))
    def ticket_ref(self, obj: SlaClock) -> str:
        return _ticket_link(obj.ticket_id, obj.ticket.number)


@admin.register(SlaEvent)
class SlaEventAdmin(_ReadOnly):
    list_display = ["ticket_ref", "metric", "kind", "threshold", "crossed_at", "emitted_at", "processed_at"]
    list_filter = ["kind", "metric"]
    list_select_related = ["ticket"]
    show_full_result_count = False

    @admin.display(description=_("ticket"))
    def ticket_ref(self, obj: SlaEvent) -> str:
        return _ticket_link(obj.ticket_id, obj.ticket.number)


@admin.register(SlaEscalation)
class SlaEscalationAdmin(_ReadOnly):
    list_display = ["event", "action", "outcome", "detail", "created_at"]
    list_filter = ["action", "outcome"]
    list_select_related = ["event"]
    show_full_result_count = False
