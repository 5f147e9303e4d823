"""Policies in the tenant's Django admin.

* Policy set: mode switch, "audit allows", and the rules as inline forms. Saving runs
  every rule through the engine's validation (errors appear on the field), refuses a
  set that would lock the saving admin out, then publishes a new immutable version
  through `services.policy_publish` (the admin never writes rules itself).
* Policy versions: read-only history, each with its rules; "restore" publishes an old
  version's rules again as a new version.
* Decisions: the read-only decision log.
* "Simulate a draft": replays recorded decisions through draft JSON rules.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Exists, OuterRef
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin_site import AuditedByServicesMixin, ReadOnlyModelAdmin, WardenModelAdmin
from apps.accounts.permissions import is_tenant_admin
from apps.core.errors import ApplicationError

from . import selectors
from .actions import Action
from .decisions import PolicyDenied
from .forms import PolicyRuleForm, PolicyRuleFormSet, PolicySetForm, PolicySimulateForm, error_messages
from .models import DecisionLog, PolicyRule, PolicySet, PolicyVersion
from .services import (
    policy_publish,
    policy_require,
    policy_settings_update,
    policy_simulation_run,
    policy_version_restore,
)


def _tenant_admin(request) -> bool:
    """Policy tables exist only in tenant schemas, and only tenant admins see them."""
    return connection.schema_name != "public" and is_tenant_admin(request.user)


def _pretty_json(value) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    )


class _TenantAdminsOnly:
    def has_module_permission(self, request) -> bool:
        return _tenant_admin(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)


class PolicyRuleInline(admin.StackedInline):
    model = PolicyRule
    form = PolicyRuleForm
    formset = PolicyRuleFormSet
    extra = 0
    fieldsets = [
        (None, {"fields": [("name", "effect", "priority"), ("subject", "action"), "conditions"]}),
        (_("Obligations"), {"fields": ["require_approval", ("cap_limit", "cap_window", "cap_scope")]}),
    ]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.actor = request.user
        return formset

    def has_view_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)

    def has_add_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)


@admin.register(PolicySet)
class PolicySetAdmin(_TenantAdminsOnly, AuditedByServicesMixin, WardenModelAdmin):
    form = PolicySetForm
    inlines = [PolicyRuleInline]
    fields = ["mode", "audit_allows", "version_in_force", "updated_at", "change_comment"]
    readonly_fields = ["version_in_force", "updated_at"]
    list_display = ["__str__", "mode", "audit_allows", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False  # provisioning creates the one set

    def has_change_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("version in force"))
    def version_in_force(self, obj: PolicySet) -> str:
        if obj.current_version_id is None:
            return "-"
        url = reverse("admin:policies_policyversion_change", args=[obj.current_version_id])
        return format_html('<a href="{}">{}</a>', url, obj.current_version)

    def get_urls(self):
        simulate = path("simulate/", self.admin_site.admin_view(self.simulate_view), name="policies_policyset_simulate")
        return [simulate, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        policy_set = selectors.policy_set_get()
        if policy_set is not None and self.has_view_permission(request):
            return redirect(reverse("admin:policies_policyset_change", args=[policy_set.pk]))
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST":
            # Asked before the admin's own transaction, so a denial stays recorded.
            try:
                policy_require(request.user, Action.POLICY_CHANGE)
            except PolicyDenied as exc:
                raise PermissionDenied(exc.message) from exc
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        if not {"mode", "audit_allows"} & set(form.changed_data):
            return  # each save is already a policy.change decision; ask again only to change settings
        policy_settings_update(actor=request.user, mode=form.cleaned_data["mode"], audit_allows=form.cleaned_data["audit_allows"])

    def save_related(self, request, form, formsets, change) -> None:
        for formset in formsets:
            if not isinstance(formset, PolicyRuleFormSet):
                continue
            version = policy_publish(
                actor=request.user, rules=formset.rules_data, comment=form.cleaned_data.get("change_comment", "")
            )
            messages.info(request, _("Rules in force: version %(number)s.") % {"number": version.number})

    def construct_change_message(self, request, form, formsets, add=False):
        return "Policy settings saved; rules published."

    def simulate_view(self, request):
        if not _tenant_admin(request):
            raise PermissionDenied
        result = None
        if request.method == "POST":
            form = PolicySimulateForm(request.POST)
            if form.is_valid():
                try:
                    result = policy_simulation_run(
                        actor=request.user, draft_rules=form.cleaned_data["rules"], days=form.cleaned_data["days"],
                        via="admin",
                    )
                except ApplicationError as exc:
                    for message in error_messages(exc):
                        form.add_error("rules", message)
        else:
            policy_set = selectors.policy_set_get()
            current = policy_set.current_version.rules if policy_set and policy_set.current_version else []
            form = PolicySimulateForm(initial={"rules": current, "days": 7})
        context = {
            **self.admin_site.each_context(request),
            "title": _("Simulate draft rules"),
            "opts": self.model._meta,
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/policies/policyset/simulate.html", context)


@admin.register(PolicyVersion)
class PolicyVersionAdmin(_TenantAdminsOnly, ReadOnlyModelAdmin):
    list_display = ["__str__", "created_at", "created_by_label", "comment", "rule_count", "in_force"]
    fields = ["number", "created_at", "created_by_label", "comment", "in_force", "rules_display"]
    readonly_fields = fields
    ordering = ["-number"]
    actions = ["restore_version"]

    def get_queryset(self, request):
        in_force = PolicySet.objects.filter(current_version=OuterRef("pk"))
        return super().get_queryset(request).annotate(is_in_force=Exists(in_force))

    @admin.display(description=_("in force"), boolean=True)
    def in_force(self, obj: PolicyVersion) -> bool:
        return bool(getattr(obj, "is_in_force", False))

    @admin.display(description=_("rules"))
    def rules_display(self, obj: PolicyVersion) -> str:
        return _pretty_json(obj.rules)

    def has_restore_permission(self, request) -> bool:
        return _tenant_admin(request)

    @admin.action(description=_("Restore the selected version (publishes it again)"), permissions=["restore"])
    def restore_version(self, request, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version to restore."), messages.ERROR)
            return
        old = queryset.get()
        try:
            version = policy_version_restore(actor=request.user, version=old)
        except ApplicationError as exc:
            self.message_user(request, " ".join(error_messages(exc)), messages.ERROR)
            return
        self.message_user(request, _("Rules of %(old)s are in force again as %(new)s.") % {"old": old, "new": version})


@admin.register(DecisionLog)
class DecisionLogAdmin(_TenantAdminsOnly, ReadOnlyModelAdmin):
    list_display = ["created_at", "actor_label", "action", "outcome", "allowed", "mode", "rule_version", "resource"]
    list_filter = ["outcome", "mode"]
    search_fields = ["action", "actor_label", "resource_type", "resource_id"]
    fields = [
        "created_at",
        "actor_label",
        "action",
        "resource_type",
        "resource_id",
        "outcome",
        "allowed",
        "mode",
        "rule_version",
        "reasons",
        "facts_display",
    ]
    readonly_fields = fields
    show_full_result_count = False
    list_per_page = 50
    actions = None

    @admin.display(description=_("resource"))
    def resource(self, obj: DecisionLog) -> str:
        return f"{obj.resource_type} {obj.resource_id}".strip()

    @admin.display(description=_("facts"))
    def facts_display(self, obj: DecisionLog) -> str:
        return _pretty_json(obj.facts)
