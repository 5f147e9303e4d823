"""The GitHub connector in the tenant's admin (tenant admins only; registered by one
import in apps/connectors/admin.py): its settings (the webhook secret write-only, the
hook URL to paste into GitHub), the repositories it serves with their reconciliation
state, and read-only lists of issue links and received deliveries. Saves go through
the services (policy `connector.configure`, audited)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import connection
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin_site import ReadOnlyModelAdmin
from apps.accounts.models import Role, User
from apps.tickets.admin import ServiceModelAdmin, ServiceModelForm

from ..admin_access import TenantAdminsOnly as _TenantAdminsOnly
from ..models import Connector, GitHubDelivery, GitHubIssueLink, GitHubRepository, GitHubSettings
from . import KIND
from .configure import github_repository_add, github_repository_remove, github_settings_update


def hook_url(connector: Connector) -> str:
    tenant = getattr(connection, "tenant", None)
    path = f"/hooks/github/?connector={connector.name}"
    return tenant.url(path) if hasattr(tenant, "url") else path


class GitHubSettingsForm(ServiceModelForm):
    new_webhook_secret = forms.CharField(
        label=_("Webhook secret"), required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("The secret you type into GitHub's webhook settings (at least 16 characters). Never shown "
                    "again; leave it empty to keep the one that is set."),
    )

    class Meta:
        model = GitHubSettings
        fields = ["connector", "act_as", "installation_id", "on_issue_closed_status", "comment_visibility"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connector"].queryset = Connector.objects.filter(kind=KIND.name).order_by("name")
        self.fields["act_as"].queryset = User.objects.filter(is_active=True, role__in=[Role.AGENT, Role.ADMIN])
        self.fields["act_as"].required = True
        if self.instance.pk:
            self.fields["connector"].disabled = True

    def save_through_service(self, actor):
        data = self.cleaned_data
        connector = self.instance.connector if self.instance.pk else data["connector"]
        return github_settings_update(
            actor=actor, connector=connector, webhook_secret=data.get("new_webhook_secret") or None,
            act_as=data.get("act_as"), installation_id=data.get("installation_id"),
            on_issue_closed_status=data.get("on_issue_closed_status") or "",
            comment_visibility=data["comment_visibility"],
        )


class GitHubSettingsAdmin(_TenantAdminsOnly, ServiceModelAdmin):
    form = GitHubSettingsForm
    list_display = ("connector", "act_as", "on_issue_closed_status", "comment_visibility", "secret_status")
    list_select_related = ("connector", "act_as")
    readonly_fields = ("secret_status", "hook")

    def get_fieldsets(self, request, obj=None):
        fields = ["connector", "new_webhook_secret", "act_as", "installation_id", "on_issue_closed_status",
                  "comment_visibility"]
        if obj is None:
            return [(None, {"fields": fields})]
        return [(None, {"fields": [fields[0], "hook", fields[1], "secret_status", *fields[2:]]})]

    @admin.display(description=_("webhook secret"))
    def secret_status(self, obj: GitHubSettings) -> str:
        return str(_("set (not shown)")) if obj.pk and obj.webhook_secret else str(_("not set"))

    @admin.display(description=_("payload URL for GitHub"))
    def hook(self, obj: GitHubSettings) -> str:
        return hook_url(obj.connector) if obj.pk else "-"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # they go with their connector


class GitHubRepositoryForm(ServiceModelForm):
    class Meta:
        model = GitHubRepository
        fields = ["connector", "full_name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "connector" in self.fields:  # not on the read-only page
            self.fields["connector"].queryset = Connector.objects.filter(kind=KIND.name).order_by("name")

    def save_through_service(self, actor):
        return github_repository_add(actor=actor, connector=self.cleaned_data["connector"],
                                     full_name=self.cleaned_data["full_name"])


class GitHubRepositoryAdmin(_TenantAdminsOnly, ServiceModelAdmin):
    form = GitHubRepositoryForm
    list_display = ("full_name", "connector", "reconciled_until", "last_reconciled_at", "last_reconcile_detail")
    list_select_related = ("connector",)
    readonly_fields = ("created_at", "reconciled_until", "last_reconciled_at", "last_reconcile_detail")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # add or remove; a repository is not renamed here

    def delete_model(self, request, obj) -> None:
        github_repository_remove(actor=request.user, repository=obj)

    def delete_queryset(self, request, queryset) -> None:
        for repository in queryset.select_related("connector").order_by("pk"):
            github_repository_remove(actor=request.user, repository=repository)


class GitHubIssueLinkAdmin(_TenantAdminsOnly, ReadOnlyModelAdmin):
    list_display = ("ticket", "repo", "number", "status", "state", "connector", "created_at")
    list_filter = ("status", "state", "connector")
    list_select_related = ("ticket", "connector")
    search_fields = ("repo", "=number", "=ticket__number")
    fields = ("connector", "ticket", "repo", "number", "url", "title", "state", "state_reason", "remote_updated_at",
              "status", "error", "attempts", "created_by", "created_at", "updated_at")
    readonly_fields = fields


class GitHubDeliveryAdmin(_TenantAdminsOnly, ReadOnlyModelAdmin):
    list_display = ("received_at", "connector", "event", "action", "repo", "number", "status", "detail")
    list_filter = ("status", "event", "connector")
    list_select_related = ("connector",)
    search_fields = ("=guid", "repo")
    fields = ("connector", "guid", "event", "action", "repo", "number", "status", "detail", "received_at",
              "processed_at", "data")
    readonly_fields = fields


def register(site: admin.AdminSite) -> None:
    site.register(GitHubSettings, GitHubSettingsAdmin)
    site.register(GitHubRepository, GitHubRepositoryAdmin)
    site.register(GitHubIssueLink, GitHubIssueLinkAdmin)
    site.register(GitHubDelivery, GitHubDeliveryAdmin)
