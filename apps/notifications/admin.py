"""Notifications in the tenant's admin: who hears what (rules), default channels, the
tenant's own wording (with a preview; a broken template is refused on save), the Slack
workspace (the token write-only), team channels, and, read-only, what was sent and what
failed. Every save goes through the services (policy `notification.configure`, audited)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin_site import ReadOnlyModelAdmin
from apps.tickets.admin import ServiceModelAdmin, ServiceModelForm

from .kinds import Kind, Role
from .models import ChannelDefault, Message, Notification, NotificationRule, SlackWorkspace, TeamChannel, TemplateOverride
from .render import TemplateInvalid, render_override, sample_context
from .services import preferences, slack, templates


class RuleForm(ServiceModelForm):
    recipients = forms.MultipleChoiceField(label=_("Who is told"), choices=Role.choices, required=False,
                                           widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = NotificationRule
        fields = ["recipients", "enabled"]

    def save_through_service(self, actor):
        data = self.cleaned_data
        return preferences.rule_set(actor=actor, kind=self.instance.kind, recipients=list(data["recipients"]),
                                    enabled=data["enabled"])


@admin.register(NotificationRule)
class NotificationRuleAdmin(ServiceModelAdmin):
    form = RuleForm
    list_display = ("kind_label", "who", "enabled")
    readonly_fields = ("kind_label",)
    fields = ("kind_label", "recipients", "enabled")

    @admin.display(description=_("when"))
    def kind_label(self, obj: NotificationRule) -> str:
        return str(Kind(obj.kind).label) if obj.kind in Kind.values else obj.kind

    @admin.display(description=_("who is told"))
    def who(self, obj: NotificationRule) -> str:
        labels = dict(Role.choices)
        return ", ".join(str(labels.get(role, role)) for role in obj.recipients) or "-"

    def has_add_permission(self, request) -> bool:
        return False  # one rule per kind, shipped with the tenant

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ChannelDefaultForm(ServiceModelForm):
    class Meta:
        model = ChannelDefault
        fields = ["kind", "channel", "enabled"]

    def save_through_service(self, actor):
        data = self.cleaned_data
        return preferences.channel_default_set(actor=actor, kind=data["kind"], channel=data["channel"],
                                               enabled=data["enabled"])


@admin.register(ChannelDefault)
class ChannelDefaultAdmin(ServiceModelAdmin):
    form = ChannelDefaultForm
    list_display = ("kind", "channel", "enabled")
    list_filter = ("channel",)


class TemplateForm(ServiceModelForm):
    class Meta:
        model = TemplateOverride
        fields = ["kind", "channel", "language", "subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 4})}

    def save_through_service(self, actor):
        data = self.cleaned_data
        return templates.template_save(actor=actor, kind=data["kind"], channel=data["channel"],
                                       language=data["language"], subject=data.get("subject") or "",
                                       body=data["body"], template=self.instance if self.instance.pk else None)


@admin.register(TemplateOverride)
class TemplateOverrideAdmin(ServiceModelAdmin):
    form = TemplateForm
    list_display = ("kind", "channel", "language", "updated_at")
    list_filter = ("channel", "language")
    readonly_fields = ("variables", "preview")

    @admin.display(description=_("variables"))
    def variables(self, obj) -> str:
        return ", ".join("{{ %s }}" % name for name in sample_context())  # noqa: UP031 - template syntax

    @admin.display(description=_("preview"))
    def preview(self, obj: TemplateOverride) -> str:
        if not obj.pk:
            return "-"
        try:
            return format_html("<div>{}</div>", render_override(obj.body, sample_context()))
        except TemplateInvalid as exc:
            return f"error: {exc}"


class SlackForm(ServiceModelForm):
    new_token = forms.CharField(
        label=_("Bot token"), required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Starts with xoxb-. Checked with Slack before it is kept; never shown again. "
                    "Leave it empty to keep the token that is set."),
    )

    new_signing_secret = forms.CharField(
        label=_("Signing secret"), required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("For approvals in Slack: the app's signing secret (Basic Information), which signs the requests "
                    "Slack sends. Never shown again; leave it empty to keep the one that is set, type clear to "
                    "remove it."),
    )
    new_app_token = forms.CharField(
        label=_("App-level token"), required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("For Socket Mode only: starts with xapp- (scope connections:write). Never shown again; leave it "
                    "empty to keep the one that is set, type clear to remove it."),
    )
    approvals_channel = forms.CharField(
        label=_("Approvals channel id"), required=False, max_length=40, strip=True,
        help_text=_("Where triage approval cards go when the ticket's team has no Slack channel, e.g. C0123ABCDEF. "
                    "Empty: only teams' channels."),
    )

    class Meta:
        model = SlackWorkspace
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["approvals_channel"].initial = self.instance.approvals_channel

    def clean_new_token(self) -> str:
        token = self.cleaned_data.get("new_token") or ""
        if not token and self.instance.pk is None:
            raise forms.ValidationError(_("A bot token is required to connect Slack."))
        return token

    def save_through_service(self, actor):
        data = self.cleaned_data
        workspace = self.instance
        if data["new_token"]:
            workspace = slack.slack_connect(actor=actor, bot_token=data["new_token"])
        # The token that is set stays when none is typed (write-only: it is never shown); the
        # same for the signing secret and the app-level token.
        if workspace.pk is not None:
            workspace = slack.slack_approvals_configure(
                actor=actor, signing_secret=data.get("new_signing_secret") or None,
                app_token=data.get("new_app_token") or None, approvals_channel=data.get("approvals_channel") or "")
        return workspace


@admin.register(SlackWorkspace)
class SlackWorkspaceAdmin(ServiceModelAdmin):
    form = SlackForm
    list_display = ("__str__", "enabled", "disabled_reason", "updated_at")
    readonly_fields = ("name", "enabled", "disabled_reason", "token_status", "signing_secret_status",
                       "app_token_status")
    fields = ("name", "enabled", "disabled_reason", "token_status", "new_token", "signing_secret_status",
              "new_signing_secret", "app_token_status", "new_app_token", "approvals_channel")

    @admin.display(description=_("token"))
    def token_status(self, obj: SlackWorkspace) -> str:
        return str(_("set (not shown)")) if obj.pk and obj.bot_token else "-"

    @admin.display(description=_("signing secret"))
    def signing_secret_status(self, obj: SlackWorkspace) -> str:
        return str(_("set (not shown)")) if obj.pk and obj.signing_secret else "-"

    @admin.display(description=_("app-level token"))
    def app_token_status(self, obj: SlackWorkspace) -> str:
        return str(_("set (not shown)")) if obj.pk and obj.app_token else "-"

    def get_fields(self, request, obj=None):
        return self.fields if obj is not None else ("new_token", "new_signing_secret", "new_app_token",
                                                    "approvals_channel")

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not SlackWorkspace.objects.exists()

    def delete_model(self, request, obj) -> None:
        slack.slack_disconnect(actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        slack.slack_disconnect(actor=request.user)


class TeamChannelForm(ServiceModelForm):
    class Meta:
        model = TeamChannel
        fields = ["team", "channel"]

    def save_through_service(self, actor):
        data = self.cleaned_data
        return slack.team_channel_set(actor=actor, team=data["team"], channel=data["channel"])


@admin.register(TeamChannel)
class TeamChannelAdmin(ServiceModelAdmin):
    form = TeamChannelForm
    list_display = ("team", "channel")
    list_select_related = ("team",)


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("channel", "status", "send_after", "sent_at", "detail")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyModelAdmin):
    """What was told to whom, and how each channel went (failures, with their reason)."""

    list_display = ("created_at", "recipient", "kind", "ticket", "read_at")
    list_filter = ("kind",)
    list_select_related = ("recipient", "ticket")
    search_fields = ("recipient__email", "=ticket__number")
    inlines = (MessageInline,)
    show_full_result_count = False
    fields = ("recipient", "kind", "ticket", "actor", "created_at", "read_at")
    readonly_fields = fields

