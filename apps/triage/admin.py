"""Triage in the tenant's admin (tenant admins only).

* Rules, in the order they are tried (order and enabled editable in the list): every
  save goes through `rule_save` while the form validates (policy `triage.configure`,
  audited; an invalid regular expression or a rule without a condition is refused on
  the field, nothing saved), deletions through `rule_delete`. A rule's "Test and dry
  run" page (`admin/triage/rule/<id>/try/`) tries it on a ticket typed in (matched or
  not, and why) and on the last N tickets (count and list); nothing is saved.
* Settings (one row): saved through `settings_update`.
* Proposals and decisions: read-only, filtered by status, classifier, verdict, channel.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin_site import ReadOnlyModelAdmin
from apps.connectors.admin_access import TenantAdminsOnly, tenant_admin
from apps.core.errors import ApplicationError
from apps.tickets.admin import ServiceModelAdmin

from . import admin_llm, admin_runs, selectors  # noqa: F401 - their ModelAdmins register themselves
from .forms import RuleForm, RuleListForm, RuleTryForm, SettingsForm
from .models import Decision, Proposal, Rule, TriageSettings
from .services import rule_delete, rule_dry_run, rule_test

DRY_RUN_SHOWN = 100  # tickets listed under the dry run's count


@admin.register(Rule)
class RuleAdmin(TenantAdminsOnly, ServiceModelAdmin):
    form = RuleForm
    list_display = ("position", "name", "enabled", "conditions", "proposes", "confidence", "try_link")
    list_display_links = ("name",)
    list_editable = ("position", "enabled")
    list_filter = ("enabled",)
    list_select_related = ("set_category", "set_team", "in_category")
    ordering = ("position", "pk")
    search_fields = ("name", "keywords", "pattern")
    readonly_fields = ("try_link",)
    fieldsets = (
        (None, {"fields": ("name", ("position", "enabled"), "confidence")}),
        (_("When a new ticket matches all of these"), {"fields": ("keywords", "pattern", "source", "in_category",
                                                                  "requester_domain")}),
        (_("Propose"), {"fields": ("set_category", "set_team", ("set_impact", "set_urgency"), "work_note")}),
        (_("Try it"), {"fields": ("try_link",)}),
    )

    def get_changelist_form(self, request, **kwargs):
        return type(RuleListForm.__name__, (RuleListForm,), {"request": request})

    @admin.display(description=_("conditions"))
    def conditions(self, obj: Rule) -> str:
        parts = []
        if obj.keywords:
            parts.append(str(_("keywords: %(words)s")) % {"words": ", ".join(obj.keywords.split())[:80]})
        if obj.pattern:
            parts.append(str(_("pattern: %(pattern)s")) % {"pattern": obj.pattern[:80]})
        if obj.source:
            parts.append(str(_("source: %(source)s")) % {"source": obj.get_source_display()})
        if obj.in_category_id:
            parts.append(str(_("in category: %(category)s")) % {"category": obj.in_category.name})
        if obj.requester_domain:
            parts.append(str(_("organisation: %(domain)s")) % {"domain": obj.requester_domain})
        return "; ".join(parts) or "-"

    @admin.display(description=_("proposes"))
    def proposes(self, obj: Rule) -> str:
        parts = []
        if obj.set_category_id:
            parts.append(obj.set_category.name)
        if obj.set_team_id:
            parts.append(obj.set_team.name)
        if obj.set_impact:
            parts.append(str(_("impact %(level)s")) % {"level": obj.get_set_impact_display()})
        if obj.set_urgency:
            parts.append(str(_("urgency %(level)s")) % {"level": obj.get_set_urgency_display()})
        if obj.work_note:
            parts.append(str(_("a work note")))
        return ", ".join(parts) or "-"

    @admin.display(description=_("test and dry run"))
    def try_link(self, obj: Rule) -> str:
        if obj is None or not obj.pk:
            return str(_("Save the rule first, then test it here."))
        return format_html('<a href="{}">{}</a>', reverse("admin:triage_rule_try", args=[obj.pk]),
                           _("Test this rule and run it over recent tickets…"))

    def delete_model(self, request, obj) -> None:
        rule_delete(actor=request.user, rule=obj)

    def delete_queryset(self, request, queryset) -> None:
        for rule in queryset:
            rule_delete(actor=request.user, rule=rule)

    def get_urls(self):
        try_url = path("<int:rule_id>/try/", self.admin_site.admin_view(self.try_view), name="triage_rule_try")
        return [try_url, *super().get_urls()]

    def try_view(self, request, rule_id: int):
        """The test box and the dry run of one rule, as it is saved. Reads only."""
        if not tenant_admin(request):
            raise PermissionDenied
        rule = selectors.rule_list().filter(pk=rule_id).first()
        if rule is None:
            raise Http404
        action = request.GET.get("action")
        form = RuleTryForm(request.GET if action else None)
        test = dry_run = None
        if action and form.is_valid():
            data = form.cleaned_data
            try:
                if action == RuleTryForm.ACTION_TEST:
                    test = rule_test(rule, title=data["title"], description=data["description"],
                                     source=data["source"], requester_email=data["requester_email"])
                elif action == RuleTryForm.ACTION_DRY_RUN:
                    examined, hits = rule_dry_run(rule, last=data["last"])
                    dry_run = {"examined": examined, "count": len(hits), "tickets": hits[:DRY_RUN_SHOWN],
                               "more": len(hits) > DRY_RUN_SHOWN}
            except ApplicationError as exc:
                form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Test “%(rule)s”") % {"rule": rule.name},
            "opts": self.model._meta,
            "rule": rule,
            "form": form,
            "test": test,
            "dry_run": dry_run,
            "dry_run_shown": DRY_RUN_SHOWN,
        }
        return TemplateResponse(request, "desk/triage/admin_rule_try.html", context)


@admin.register(TriageSettings)
class TriageSettingsAdmin(TenantAdminsOnly, ServiceModelAdmin):
    """One row: the list opens it."""

    form = SettingsForm
    fields = ("enabled", "confidence_floor", "auto_approve_rules", "auto_approve_llm", "auto_approve_threshold",
              "updated_at")
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        # The defaults are stored when an admin first opens them (reading elsewhere never writes).
        row, _ = TriageSettings.objects.get_or_create(singleton=True)
        return HttpResponseRedirect(reverse("admin:triage_triagesettings_change", args=[row.pk]))


class _ReadOnly(TenantAdminsOnly, ReadOnlyModelAdmin):
    show_full_result_count = False


def _ticket_link(ticket) -> str:
    return format_html('<a href="{}">#{}</a>', reverse("desk:ticket", kwargs={"number": ticket.number}), ticket.number)


@admin.register(Proposal)
class ProposalAdmin(_ReadOnly):
    list_display = ("pk", "ticket_ref", "classifier", "by", "confidence", "status", "writeback_status", "created_at")
    list_filter = ("status", "classifier", "writeback_status")
    list_select_related = ("ticket",)
    search_fields = ("=ticket__number", "rule_name", "model")
    date_hierarchy = "created_at"
    fields = ("ticket_ref", "classifier", "rule", "rule_name", "model", "prompt_version", "prompt_hash", "confidence",
              "rationale", "changes", "before", "ticket_updated_at", "version", "status", "status_reason",
              "writeback_status", "writeback_detail", "writeback_id", "created_at", "updated_at")
    readonly_fields = fields

    @admin.display(description=_("ticket"), ordering="ticket__number")
    def ticket_ref(self, obj: Proposal) -> str:
        return _ticket_link(obj.ticket)

    @admin.display(description=_("proposed by"))
    def by(self, obj: Proposal) -> str:
        return obj.rule_name or obj.model or "-"


@admin.register(Decision)
class DecisionAdmin(_ReadOnly):
    list_display = ("proposal_id", "ticket_ref", "verdict", "decided_by_label", "channel", "created_at")
    list_filter = ("verdict", "channel")
    list_select_related = ("proposal__ticket",)
    search_fields = ("=proposal__ticket__number", "decided_by_label")
    fields = ("proposal", "ticket_ref", "verdict", "reason", "decided_by_label", "channel", "version", "changes",
              "policy_version", "created_at")
    readonly_fields = fields

    @admin.display(description=_("ticket"), ordering="proposal__ticket__number")
    def ticket_ref(self, obj: Decision) -> str:
        return _ticket_link(obj.proposal.ticket)
