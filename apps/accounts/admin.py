"""Tenant admin for people and teams: every write is a call to `services`.

So a change made here is policy-checked (`user.manage`) and audited exactly like the same
change made by a command or the API:

* users: add through `user_create`; on the change page email, name, language and time
  zone through `user_update`, the role through `user_set_role`, the active flag through
  `user_set_active` and an optional new password through `user_set_password`. People are
  deactivated, never deleted (tickets, comments and the audit chain refer to them);
* teams: add through `team_create`, rename through `team_rename`, the lead through
  `team_set_lead`, the membership inline through `team_add_member` /
  `team_remove_member`, delete (from the team's page) through `team_delete`.

How a refusal reaches the form. Django's admin validates the form and the inline
formsets, then calls `save_model` and `save_related`, then announces success. Here those
two hooks call the services, after everything validated, so a bad inline row never
leaves a half-saved team behind. A service refusal (ApplicationError, PolicyDenied)
raised there leaves the admin's transaction as an exception, which rolls back whatever
the submit had written; `changeform_view` then runs the view once more on the same POST
data with the refusal attached to the form as an error. The page comes back with the
input and the message, nothing is stored and nothing is announced. A policy denial's
own record is written again after the rollback (`policy_denial_persist`).

Audit: the services append the specific events (`user.role_changed`,
`team.member_added`, ...). The admin's history (LogEntry) is still kept, but written
without the generic `admin.*` event that `apps.accounts.admin_site` adds for other admin pages
(bulk_create sends no post_save), so each change is in the chain once.

These pages exist on tenant hosts only: the services ask the tenant's policies, which
the platform (public schema) does not have. Platform admins are created with
`manage.py createsuperuser` on the platform.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import DELETION
from django.contrib.admin.utils import quote
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.accounts.admin_site import AuditedByServicesMixin, WardenModelAdmin, log_history
from apps.core import governance
from apps.core.errors import ApplicationError

from . import permissions, services
from .forms import time_zone_field
from .models import Team, TeamMembership, User


class _Refused(Exception):
    """A service refused the submit; carries its error out of the admin's transaction."""

    def __init__(self, error: ApplicationError):
        super().__init__(error.message)
        self.error = error


def _persist_denial(error: ApplicationError) -> None:
    governance.persist_denial(error)


def _adopt(obj, saved) -> None:
    """Make the admin's unsaved `obj` stand for the row the service created, so that the
    admin's history entry and redirect point at it."""
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


class ServiceForm(forms.ModelForm):
    """Shows a service's refusal as form errors on the admin's second run of the view."""

    refusal: ApplicationError | None = None  # bound by ServiceAdmin.get_form on that run

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.refusal is None:
            return
        placed = []
        for field, field_messages in self.refusal.errors.items():
            for message in field_messages:
                self.add_error(field if field in self.fields else None, message)
                placed.append(message)
        if self.refusal.message not in placed:
            self.add_error(None, self.refusal.message)


class ServiceAdmin(AuditedByServicesMixin, WardenModelAdmin):
    """Saves through services in `save_model` / `save_related`; see the module docstring."""

    def has_module_permission(self, request) -> bool:
        return permissions.is_tenant_admin(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.is_tenant_admin(request.user)

    def has_add_permission(self, request) -> bool:
        return permissions.is_tenant_admin(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return permissions.is_tenant_admin(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return permissions.is_tenant_admin(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"refusal": getattr(request, "_warden_refusal", None)})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _Refused as refused:
            # The admin's transaction has rolled back: show the same input with the error.
            _persist_denial(refused.error)
            request._warden_refusal = refused.error
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        try:
            form.service_result = self.save_through_services(request.user, obj, form, change)
        except ApplicationError as exc:
            raise _Refused(exc) from exc
        if not change:
            _adopt(obj, form.service_result)

    def save_related(self, request, form, formsets, change) -> None:
        try:
            self.save_formsets_through_services(request.user, form.service_result, formsets)
        except ApplicationError as exc:
            raise _Refused(exc) from exc

    def save_through_services(self, actor: User, obj, form, change: bool):
        """Apply the form's changes through services; return the saved object. Every
        subclass says how: an admin page that saved with Django's default would write
        without the policy check and the audit event."""
        raise ImproperlyConfigured(f"{type(self).__name__} must define save_through_services()")

    def save_formsets_through_services(self, actor: User, saved, formsets) -> None:
        """Inlines, likewise: a subclass with an inline saves it through services."""
        for formset in formsets:
            if formset:
                raise ImproperlyConfigured(f"{type(self).__name__} has an inline but does not save it through services")

    def log_deletions(self, request, queryset):
        # Deletions here go through `team_delete` too, which records its own event.
        return log_history(request, list(queryset), DELETION)


# --- Users ------------------------------------------------------------------------------


def _language_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("Organisation default")), *settings.LANGUAGES],
        required=False,
    )


class _PasswordPair:
    """Two password inputs that must match; the service checks the strength."""

    first: str
    second: str

    def clean_password_pair(self, cleaned_data: dict) -> None:
        first, second = cleaned_data.get(self.first), cleaned_data.get(self.second)
        if (first or second) and first != second:
            self.add_error(self.second, _("The two passwords do not match."))


class UserAddForm(_PasswordPair, ServiceForm):
    first, second = "password1", "password2"
    password1 = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        required=False,
        strip=False,
        help_text=_("Optional: leave empty and the person sets one with “Forgot password?”."),
    )
    password2 = forms.CharField(
        label=_("Password (again)"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        required=False,
        strip=False,
    )

    class Meta:
        model = User
        fields = ["email", "full_name", "role"]

    def clean(self):
        data = super().clean()
        self.clean_password_pair(data)
        return data


class UserChangeForm(_PasswordPair, ServiceForm):
    first, second = "new_password1", "new_password2"
    language = _language_field()
    time_zone = time_zone_field(default_label=_("Organisation default"))
    new_password1 = forms.CharField(
        label=_("New password"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        required=False,
        strip=False,
        help_text=_("Leave empty to keep the current password."),
    )
    new_password2 = forms.CharField(
        label=_("New password (again)"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        required=False,
        strip=False,
    )

    class Meta:
        model = User
        fields = ["email", "full_name", "role", "is_active", "language", "time_zone"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = self.fields["time_zone"].zone_choices(current=self.instance.time_zone)

    def clean(self):
        data = super().clean()
        self.clean_password_pair(data)
        return data


@admin.register(User)
class UserAdmin(ServiceAdmin):
    form = UserChangeForm
    add_form = UserAddForm
    list_display = ["email", "full_name", "role", "is_active", "date_joined"]
    list_filter = ["role", "is_active"]
    search_fields = ["email", "full_name"]
    ordering = ["email"]
    readonly_fields = ["password_status", "date_joined", "last_login"]
    add_fieldsets = [(None, {"fields": ["email", "full_name", "role", "password1", "password2"]})]
    fieldsets = [
        (None, {"fields": ["email", "full_name", "role", "is_active", "language", "time_zone"]}),
        (_("Password"), {"fields": ["password_status", "new_password1", "new_password2"]}),
        (_("Dates"), {"fields": ["date_joined", "last_login"]}),
    ]

    actions = ["deactivate_selected", "reactivate_selected"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deactivate instead: tickets, comments and the audit chain refer to people

    @admin.action(description=_("Deactivate selected users"))
    def deactivate_selected(self, request, queryset):
        self._set_active(request, queryset, False)

    @admin.action(description=_("Reactivate selected users"))
    def reactivate_selected(self, request, queryset):
        self._set_active(request, queryset, True)

    def _set_active(self, request, queryset, active: bool) -> None:
        """One service call (and transaction) per person: a refusal (the last active admin,
        a policy) is reported and the others still change."""
        done = 0
        for user in queryset.order_by("pk"):
            try:
                if user.is_active != active:
                    services.user_set_active(user=user, active=active, actor=request.user)
                    done += 1
            except ApplicationError as exc:
                _persist_denial(exc)
                self.message_user(request, _("Not changed for %(email)s: %(reason)s") % {
                    "email": user.email, "reason": exc.message}, level=messages.ERROR)
        if active:
            template = ngettext("%(n)d user reactivated.", "%(n)d users reactivated.", done)
        else:
            template = ngettext("%(n)d user deactivated.", "%(n)d users deactivated.", done)
        self.message_user(request, template % {"n": done}, level=messages.SUCCESS if done else messages.INFO)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description=_("password"))
    def password_status(self, obj: User) -> str:
        if obj.has_usable_password():
            return _("Set (not shown).")
        return _("Not set: the person signs in after choosing one with “Forgot password?”.")

    def save_through_services(self, actor: User, obj: User, form, change: bool) -> User:
        data = form.cleaned_data
        if not change:
            return services.user_create(
                email=data["email"], full_name=data.get("full_name", ""), role=data["role"],
                password=data.get("password1") or None, actor=actor,
            )
        user = User.objects.get(pk=obj.pk)  # as stored: `obj` already carries the input
        changed = set(form.changed_data)
        profile = {name: data[name] for name in ("email", "full_name", "language", "time_zone") if name in changed}
        if profile:
            services.user_update(user=user, actor=actor, **profile)
        if "role" in changed:
            services.user_set_role(user=user, role=data["role"], actor=actor)
        if "is_active" in changed:
            services.user_set_active(user=user, active=data["is_active"], actor=actor)
        if data.get("new_password1"):
            services.user_set_password(user=user, password=data["new_password1"], actor=actor)
        return user


# --- Teams ------------------------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    """Members are added and removed here (through the services); a row is never edited
    into another person."""

    model = TeamMembership
    extra = 0
    fields = ["user", "joined_at"]
    readonly_fields = ["joined_at"]
    autocomplete_fields = ["user"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.is_tenant_admin(request.user)

    def has_add_permission(self, request, obj=None) -> bool:
        return permissions.is_tenant_admin(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return permissions.is_tenant_admin(request.user)


class TeamForm(ServiceForm):
    class Meta:
        model = Team
        fields = ["name", "lead"]


@admin.register(Team)
class TeamAdmin(ServiceAdmin):
    form = TeamForm
    list_display = ["name", "lead", "member_count"]
    list_select_related = ["lead"]
    search_fields = ["name"]
    autocomplete_fields = ["lead"]
    fields = ["name", "lead", "created_at"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]

    @admin.display(description=_("members"))
    def member_count(self, obj: Team) -> int:
        return obj.member_count

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    def get_actions(self, request):
        # Django's bulk delete announces success before deleting; teams are deleted one at
        # a time from their page, where a refusal is shown instead.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_through_services(self, actor: User, obj: Team, form, change: bool) -> Team:
        data = form.cleaned_data
        if not change:
            return services.team_create(name=data["name"], lead=data.get("lead"), actor=actor)
        team = Team.objects.get(pk=obj.pk)  # as stored: `obj` already carries the input
        if "name" in form.changed_data:
            services.team_rename(team=team, name=data["name"], actor=actor)
        if "lead" in form.changed_data:
            services.team_set_lead(team=team, lead=data.get("lead"), actor=actor)
        return team

    def save_formsets_through_services(self, actor: User, team: Team, formsets) -> None:
        # What formset.save() would have done (and recorded for the history message).
        for formset in formsets:
            formset.changed_objects, formset.deleted_objects, formset.new_objects = [], [], []
            for form in formset.initial_forms:
                if form in formset.deleted_forms and form.instance.pk is not None:
                    services.team_remove_member(team=team, user=form.instance.user, actor=actor)
                    formset.deleted_objects.append(form.instance)
            for form in formset.extra_forms:
                if form.has_changed() and form not in formset.deleted_forms:
                    membership = services.team_add_member(team=team, user=form.cleaned_data["user"], actor=actor)
                    formset.new_objects.append(membership)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except _Refused as refused:
            _persist_denial(refused.error)
            self.message_user(request, refused.error.message, level=messages.ERROR)
            url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[quote(object_id)],
                          current_app=self.admin_site.name)
            return HttpResponseRedirect(url)

    def delete_model(self, request, obj: Team) -> None:
        try:
            services.team_delete(team=obj, actor=request.user)
        except ApplicationError as exc:
            raise _Refused(exc) from exc

    def delete_queryset(self, request, queryset) -> None:
        for team in queryset.order_by("pk"):
            self.delete_model(request, team)



# --- Second factors (allauth.mfa) ----------------------------------------------------

# allauth registers a plain ModelAdmin that shows and edits the raw `data` JSON (the TOTP
# secret) and cannot save an authenticator that was never used. Admins only need to see
# who has which second factor and to remove a lost one (a tenant admin for the tenant's
# people, a platform admin for the platform's); people set up their own on the web.
import allauth.mfa.admin  # noqa: E402, F401 - registered first, so that it can be replaced here
from allauth.mfa.models import Authenticator  # noqa: E402

admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(WardenModelAdmin):
    list_display = ["user", "type", "created_at", "last_used_at"]
    list_filter = ["type"]
    list_select_related = ["user"]
    search_fields = ["user__email"]
    fields = ["user", "type", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    # Viewing and deleting: WardenModelAdmin's rule (the tenant's admins, platform admins).
