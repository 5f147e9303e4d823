"""The tenant's language model in the admin (tenant admins only): set it up or change it
(the API key write-only: never shown back, blank keeps the current one) and read the
monthly usage. Saves go through `services.llm` (policy `triage.configure`, audited).
Imported from `apps.triage.admin`."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin_site import ReadOnlyModelAdmin
from apps.connectors.admin_access import TenantAdminsOnly
from apps.tickets.admin import ServiceModelAdmin, ServiceModelForm

from .llm.classifier import cap_reached, next_month, usage_get
from .models_llm import LlmProvider, LlmUsage
from .services import llm as llm_services

FORM_FIELDS = ["kind", "base_url", "region", "model", "api_version", "enabled", "timeout_seconds",
               "max_output_tokens", "monthly_token_cap", "monthly_cost_cap", "price_input_per_1k",
               "price_output_per_1k"]


class LlmProviderForm(ServiceModelForm):
    new_api_key = forms.CharField(
        label=_("API key"), required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("The organisation's own key. Never shown again; leave it empty to keep the one that is set."),
    )

    class Meta:
        model = LlmProvider
        fields = FORM_FIELDS

    def save_through_service(self, actor):
        provider = self.instance if self.instance.pk else LlmProvider()
        if provider.pk:
            provider = LlmProvider.objects.get(pk=provider.pk)  # a fresh copy: the service compares with the row
        for name in FORM_FIELDS:
            if name in self.cleaned_data:
                setattr(provider, name, self.cleaned_data[name])
        return llm_services.llm_provider_save(actor=actor, provider=provider,
                                              api_key=self.cleaned_data.get("new_api_key") or None)


@admin.register(LlmProvider)
class LlmProviderAdmin(TenantAdminsOnly, ServiceModelAdmin):
    form = LlmProviderForm
    list_display = ("label", "region", "enabled", "usage_this_month")
    readonly_fields = ("api_key_status", "usage_this_month")

    def get_fieldsets(self, request, obj=None):
        key = ["new_api_key"] if obj is None else ["api_key_status", "new_api_key"]
        return [
            (None, {"fields": ["kind", "base_url", "region", "model", "api_version", *key, "enabled"]}),
            (_("Limits"), {"fields": ["timeout_seconds", "max_output_tokens", "monthly_token_cap", "monthly_cost_cap",
                                      "price_input_per_1k", "price_output_per_1k",
                                      *(["usage_this_month"] if obj is not None else [])]}),
        ]

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not LlmProvider.objects.exists()

    @admin.display(description=_("API key"))
    def api_key_status(self, obj: LlmProvider) -> str:
        return str(_("set (not shown)")) if obj.pk and obj.api_key else str(_("not set"))

    @admin.display(description=_("this month"))
    def usage_this_month(self, obj: LlmProvider) -> str:
        usage = usage_get()
        text = _("%(tokens)s tokens, cost %(cost)s, %(requests)s requests") % {
            "tokens": usage.tokens, "cost": usage.cost.normalize(), "requests": usage.requests}
        if obj.pk and cap_reached(obj, usage):
            text = _("%(usage)s; cap reached: routed by people until %(date)s") % {
                "usage": text, "date": next_month(usage.month).isoformat()}
        return str(text)

    def delete_model(self, request, obj) -> None:
        llm_services.llm_provider_delete(actor=request.user, provider=obj)

    def delete_queryset(self, request, queryset) -> None:
        for provider in queryset.order_by("pk"):
            llm_services.llm_provider_delete(actor=request.user, provider=provider)


@admin.register(LlmUsage)
class LlmUsageAdmin(TenantAdminsOnly, ReadOnlyModelAdmin):
    list_display = ("month", "requests", "failures", "input_tokens", "output_tokens", "cost")
    ordering = ("-month",)
