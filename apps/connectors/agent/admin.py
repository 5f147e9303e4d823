"""Customer agents in the tenant's admin (tenant admins only; imported by
apps/connectors/admin.py): register one (its token is shown once, on the page that
follows, and never again: only a hash is kept), revoke (audited; an agent is never
deleted, so the audit trail and its calls keep their subject), and see when each last
polled, from where and with which version."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from apps.core.errors import ApplicationError
from apps.policies.decisions import PolicyDenied
from apps.tickets.admin import ServiceModelAdmin, ServiceModelForm

from ..admin_access import tenant_admin as _tenant_admin
from . import services
from .models import ConnectorAgent


class AgentForm(ServiceModelForm):
    class Meta:
        model = ConnectorAgent
        fields = ["name"]

    def save_through_service(self, actor):
        if self.instance.pk is not None:
            return self.instance  # nothing of an agent changes after registration
        agent, token = services.agent_register(actor=actor, name=self.cleaned_data["name"])
        agent.issued_token = token  # for the page that follows (response_add); not a field, never stored
        return agent


@admin.register(ConnectorAgent)
class ConnectorAgentAdmin(ServiceModelAdmin):
    form = AgentForm
    list_display = ("name", "state", "last_contact_at", "version", "last_address", "connector_names", "created_at",
                    "created_by")
    list_filter = ("revoked_at",)
    search_fields = ("name",)
    actions = ("revoke_selected",)
    shown = ("name", "state", "last_contact_at", "last_address", "version", "connector_names", "created_at",
             "created_by", "revoked_at", "revoked_by")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("connectors")

    def get_fields(self, request, obj=None):
        return ["name"] if obj is None else list(self.shown)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.shown

    def has_module_permission(self, request) -> bool:
        return _tenant_admin(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return _tenant_admin(request)

    def has_add_permission(self, request) -> bool:
        return _tenant_admin(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # registered, then only revoked (an action)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead

    def get_actions(self, request):
        return super().get_actions(request) if _tenant_admin(request) else {}

    @admin.display(description=_("state"))
    def state(self, obj: ConnectorAgent) -> str:
        return str(_("revoked")) if obj.revoked_at else str(_("active"))

    @admin.display(description=_("connectors"))
    def connector_names(self, obj: ConnectorAgent) -> str:
        return ", ".join(sorted(c.name for c in obj.connectors.all())) or "-"

    def response_add(self, request, obj, post_url_continue=None):
        token = getattr(obj, "issued_token", None)
        if not token:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Customer agent %(name)s registered") % {"name": obj.name},
            "opts": self.model._meta,
            "original": obj,
            "token": token,
            "host": request.get_host(),
            "scheme": request.scheme,
        }
        response = TemplateResponse(request, "admin/connectors/connectoragent/token.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke selected agents (their tokens stop working at once)"))
    def revoke_selected(self, request, queryset):
        revoked = 0
        for agent in queryset.order_by("pk"):
            try:
                revoked += int(services.agent_revoke(actor=request.user, agent=agent))
            except (ApplicationError, PolicyDenied) as exc:
                self.message_user(request, getattr(exc, "message", str(exc)), level=messages.ERROR)
        self.message_user(request, _("%(n)d agents revoked.") % {"n": revoked}, level=messages.SUCCESS)
