"""Connectors in the tenant's admin (tenant admins only): create and change connectors
(the secret write-only), Test connection (what was reached), health, last sync, the
recent calls, dead letters with retry and discard, dry run on or off (audited), the
verified custom domains, and the customer agents (agent/admin.py). Every save and action goes through the services (policy
`connector.configure` / `connector.operate`, audited)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin_site import ReadOnlyModelAdmin
from apps.core.errors import ApplicationError
from apps.policies.decisions import PolicyDenied
from apps.tickets.admin import ServiceModelAdmin, ServiceModelForm

from . import breaker, selectors
from .admin_access import TenantAdminsOnly as _TenantAdminsOnly
from .admin_access import tenant_admin as _tenant_admin
from .agent import admin as agent_admin  # noqa: F401 - registers the customer agents' admin (0024)
from .choices import DeadLetterStatus, Status
from .github import admin as github_admin
from .models import Connector, ConnectorCall, ConnectorDomain, DeadLetter
from .registry import KINDS
from .services import connectors as connector_services
from .services import domains as domain_services
from .services import operations


class ConnectorForm(ServiceModelForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=())
    new_secret = forms.CharField(
        label=_("Secret"), required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("The token or password. Never shown again; leave it empty to keep the one that is set."),
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False)

    class Meta:
        model = Connector
        fields = ["kind", "name", "base_url", "auth_scheme", "username", "region", "dry_run", "daily_write_cap",
                  "route", "agent"]  # route, agent: customer agent (0024)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = KINDS.choices()
        if self.instance.pk:
            self.fields["kind"].disabled = True
            self.fields["kind"].required = False
            self.fields["enabled"].initial = self.instance.status == Status.ACTIVE
        else:
            self.fields["enabled"].initial = True
        if "region" in self.fields:
            self.fields["region"] = forms.ChoiceField(
                label=_("Region"), choices=[(r, r) for r in _regions()],
                initial=self.instance.region or getattr(getattr(connection, "tenant", None), "region", ""),
                help_text=_("Where this connector's calls are made from (the organisation's allowed regions)."))

    def save_through_service(self, actor):
        data = self.cleaned_data
        if self.instance.pk is None:
            connector = connector_services.connector_create(
                actor=actor, kind=data["kind"], name=data["name"], base_url=data["base_url"],
                auth_scheme=data["auth_scheme"], username=data.get("username") or "",
                secret=data.get("new_secret") or "", region=data.get("region") or None, dry_run=data["dry_run"],
                daily_write_cap=data["daily_write_cap"], route=data["route"], agent=data.get("agent"),
            )
            if not data.get("enabled"):
                connector = connector_services.connector_update(actor=actor, connector=connector, enabled=False)
            return connector
        return connector_services.connector_update(
            actor=actor, connector=self.instance, name=data["name"], base_url=data["base_url"],
            auth_scheme=data["auth_scheme"], username=data.get("username") or "", secret=data.get("new_secret") or None,
            region=data.get("region") or self.instance.region, dry_run=data["dry_run"],
            daily_write_cap=data["daily_write_cap"], enabled=bool(data.get("enabled")),
            route=data["route"], agent=data.get("agent"),
        )


def _regions() -> list[str]:
    from django.conf import settings

    tenant = getattr(connection, "tenant", None)
    allowed = getattr(tenant, "effective_allowed_regions", None)
    return list(allowed or settings.WARDEN_REGIONS)


class ConnectorCallInline(admin.TabularInline):
    model = ConnectorCall
    extra = 0
    can_delete = False
    max_num = 0
    verbose_name_plural = _("recent calls")
    fields = ("at", "operation", "method", "path", "outcome", "status_code", "attempts", "duration_ms", "address",
              "detail")
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        ids = list(queryset.order_by("-at", "-pk").values_list("pk", flat=True)[:20])
        return queryset.filter(pk__in=ids).order_by("-at", "-pk")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Connector)
class ConnectorAdmin(_TenantAdminsOnly, ServiceModelAdmin):
    form = ConnectorForm
    list_display = ("name", "kind", "status", "dry_run", "health", "last_sync_at", "circuit", "open_dead_letters")
    list_filter = ("kind", "status", "health", "dry_run")
    search_fields = ("name", "base_url")
    readonly_fields = ("secret_status", "status", "disabled_reason", "health", "health_detail", "health_checked_at",
                       "last_sync_at", "circuit", "writes_today", "test_link")
    inlines = (ConnectorCallInline,)
    actions = ("dry_run_on", "dry_run_off")
    change_form_template = "admin/connectors/connector/change_form.html"

    def get_fieldsets(self, request, obj=None):
        main = ["kind", "name", "base_url", "auth_scheme", "username", "new_secret", "region", "enabled", "dry_run",
                "daily_write_cap", "route", "agent"]  # route, agent: customer agent (0024)
        if obj is None:
            return [(None, {"fields": main})]
        return [
            (None, {"fields": [*main[:5], "secret_status", *main[5:]]}),
            (_("State"), {"fields": ["status", "disabled_reason", "health", "health_detail", "health_checked_at",
                                     "last_sync_at", "circuit", "writes_today", "test_link"]}),
        ]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    @admin.display(description=_("secret"))
    def secret_status(self, obj: Connector) -> str:
        return str(_("set (not shown)")) if obj.pk and obj.secret else str(_("not set"))

    @admin.display(description=_("circuit"))
    def circuit(self, obj: Connector) -> str:
        return str(_("open")) if obj.pk and breaker.is_open(obj.pk) else str(_("closed"))

    @admin.display(description=_("writes today"))
    def writes_today(self, obj: Connector) -> str:
        return f"{selectors.writes_today(obj)} / {obj.daily_write_cap}" if obj.pk else "-"

    @admin.display(description=_("open dead letters"))
    def open_dead_letters(self, obj: Connector) -> int:
        return obj.dead_letters.filter(status=DeadLetterStatus.OPEN).count()

    @admin.display(description=_("test"))
    def test_link(self, obj: Connector) -> str:
        if not obj.pk:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:connectors_connector_test", args=[obj.pk]),
                           _("Test connection"))

    def get_urls(self):
        test = path("<int:pk>/test/", self.admin_site.admin_view(self.test_view), name="connectors_connector_test")
        return [test, *super().get_urls()]

    def test_view(self, request, pk: int):
        if not _tenant_admin(request):
            raise PermissionDenied
        connector = get_object_or_404(Connector, pk=pk)
        outcome = None
        if request.method == "POST":
            try:
                outcome = operations.connector_test(actor=request.user, connector=connector)
            except PolicyDenied as exc:
                raise PermissionDenied(exc.message) from exc
            connector.refresh_from_db()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Test connection: %(name)s") % {"name": connector.name},
            "opts": self.model._meta,
            "original": connector,
            "outcome": outcome,
        }
        return TemplateResponse(request, "admin/connectors/connector/test.html", context)

    def delete_model(self, request, obj) -> None:
        connector_services.connector_delete(actor=request.user, connector=obj)

    def delete_queryset(self, request, queryset) -> None:
        for connector in queryset.order_by("pk"):
            connector_services.connector_delete(actor=request.user, connector=connector)

    def _dry_run(self, request, queryset, value: bool) -> None:
        changed = 0
        for connector in queryset.order_by("pk"):
            try:
                connector_services.connector_update(actor=request.user, connector=connector, dry_run=value)
                changed += 1
            except (ApplicationError, PolicyDenied) as exc:
                self.message_user(request, getattr(exc, "message", str(exc)), level=messages.ERROR)
        self.message_user(request, _("%(n)d connectors changed.") % {"n": changed}, level=messages.SUCCESS)

    @admin.action(description=_("Switch dry run on (writes are recorded, not sent)"))
    def dry_run_on(self, request, queryset):
        self._dry_run(request, queryset, True)

    @admin.action(description=_("Switch dry run off (writes are sent)"))
    def dry_run_off(self, request, queryset):
        self._dry_run(request, queryset, False)


@admin.register(DeadLetter)
class DeadLetterAdmin(_TenantAdminsOnly, ReadOnlyModelAdmin):
    """Writes that finally failed: retry (sent again, same idempotency key) or discard."""

    list_display = ("created_at", "connector", "operation", "method", "short_path", "attempts", "status", "last_error")
    list_filter = ("status", "connector")
    list_select_related = ("connector",)
    fields = ("connector", "created_at", "operation", "method", "path", "idempotency_key", "attempts", "status",
              "last_error", "resolved_at", "resolved_by")
    readonly_fields = fields
    actions = ("retry_selected", "discard_selected")

    @admin.display(description=_("path"))
    def short_path(self, obj: DeadLetter) -> str:
        return obj.path.split("?", 1)[0][:80]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super(ReadOnlyModelAdmin, self).get_actions(request)
        return actions if _tenant_admin(request) else {}

    @admin.action(description=_("Retry selected dead letters"))
    def retry_selected(self, request, queryset):
        sent = failed = 0
        for dead_letter in queryset.select_related("connector").order_by("pk"):
            try:
                if operations.dead_letter_retry(actor=request.user, dead_letter=dead_letter):
                    sent += 1
                else:
                    failed += 1
            except (ApplicationError, PolicyDenied) as exc:
                failed += 1
                self.message_user(request, f"#{dead_letter.pk}: {getattr(exc, 'message', exc)}", level=messages.ERROR)
        self.message_user(request, _("%(sent)d sent, %(failed)d still failing.") % {"sent": sent, "failed": failed},
                          level=messages.SUCCESS if not failed else messages.WARNING)

    @admin.action(description=_("Discard selected dead letters"))
    def discard_selected(self, request, queryset):
        for dead_letter in queryset.select_related("connector").order_by("pk"):
            operations.dead_letter_discard(actor=request.user, dead_letter=dead_letter)
        self.message_user(request, _("Discarded."), level=messages.SUCCESS)


class DomainForm(ServiceModelForm):
    class Meta:
        model = ConnectorDomain
        fields = ["pattern", "note"]

    def save_through_service(self, actor):
        if self.instance.pk is not None:
            if self.cleaned_data["pattern"] == self.instance.pattern and self.cleaned_data["note"] == self.instance.note:
                return self.instance
            domain_services.domain_remove(actor=actor, domain=self.instance)
        return domain_services.domain_add(actor=actor, pattern=self.cleaned_data["pattern"], note=self.cleaned_data["note"])


@admin.register(ConnectorDomain)
class ConnectorDomainAdmin(_TenantAdminsOnly, ServiceModelAdmin):
    form = DomainForm
    list_display = ("pattern", "note", "added_by", "created_at")

    def delete_model(self, request, obj) -> None:
        domain_services.domain_remove(actor=request.user, domain=obj)

    def delete_queryset(self, request, queryset) -> None:
        for domain in queryset.order_by("pk"):
            domain_services.domain_remove(actor=request.user, domain=domain)


github_admin.register(admin.site)  # the GitHub connector's pages (github/admin.py)
from .servicenow import admin as servicenow_admin  # noqa: E402, F401 - registers the ServiceNow admin pages
