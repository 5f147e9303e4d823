"""Platform admin (public host only): list, create, suspend and reactivate tenants."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.accounts import permissions
from apps.accounts.admin_site import WardenModelAdmin
from apps.accounts.forms import TimeZoneField
from apps.core.errors import ApplicationError

from . import services
from .models import Domain, Region, Tenant


class TenantCreateForm(forms.ModelForm):
    time_zone = TimeZoneField(
        default_label=_("The region's (Europe/Warsaw for eu, America/New_York for us)"),
        help_text=_("Dates and times are shown in this zone to the tenant's people who have not chosen their own."),
    )
    admin_email = forms.EmailField(label=_("first admin's email"))
    admin_password = forms.CharField(
        label=_("first admin's password"), widget=forms.PasswordInput, required=False,
        help_text=_("Leave empty to let the admin set one through password reset."),
    )

    class Meta:
        model = Tenant
        fields = ["slug", "name", "region"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = self.fields["time_zone"].zone_choices()

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                services.validate_new_tenant(
                    slug=cleaned["slug"], name=cleaned["name"], region=cleaned["region"],
                    time_zone=cleaned.get("time_zone") or None,
                )
            except ApplicationError as exc:
                raise ValidationError(exc.errors or exc.message) from exc
        return cleaned

    def provision(self, *, actor) -> Tenant:
        data = self.cleaned_data
        return services.tenant_provision(
            slug=data["slug"], name=data["name"], region=data["region"],
            admin_email=data["admin_email"], admin_password=data.get("admin_password") or None,
            time_zone=data.get("time_zone") or None, actor=actor,
        ).tenant


class TenantChangeForm(forms.ModelForm):
    time_zone = TimeZoneField(
        help_text=_("Dates and times are shown in this zone to the tenant's people who have not chosen their own."),
    )

    class Meta:
        model = Tenant
        fields = ["time_zone"]  # the admin adds the others (`TenantAdmin.fields`)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "time_zone" in self.fields:
            self.fields["time_zone"].choices = self.fields["time_zone"].zone_choices(current=self.instance.time_zone)


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class PlatformOnly:
    """Tenant rows live in the public schema: only platform admins on the platform host see them."""

    def has_module_permission(self, request):
        return permissions.is_platform_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return permissions.is_platform_admin(request.user)

    def has_add_permission(self, request):
        return permissions.is_platform_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return permissions.is_platform_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Tenant)
class TenantAdmin(PlatformOnly, WardenModelAdmin):
    list_display = ["slug", "name", "region", "time_zone", "status", "data_mode", "created_at"]
    list_filter = ["status", "region", "data_mode"]
    search_fields = ["slug", "name"]
    readonly_fields = ["slug", "schema_name", "region", "created_at"]
    fields = [
        "slug", "schema_name", "name", "region", "allowed_regions", "data_mode", "status", "suspended_reason",
        "mfa_required_for_admins", "time_zone", "display_name", "logo", "primary_colour", "created_at",
    ]
    form = TenantChangeForm
    inlines = [DomainInline]
    actions = ["suspend", "activate"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # the logo URL

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(schema_name="public")

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TenantCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["slug", "name", "region", "time_zone", "admin_email", "admin_password"]
        return self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def save_model(self, request, obj, form, change):
        if not change:
            return  # provisioned in the form's clean(), schema and all
        previous = Tenant.objects.get(pk=obj.pk)
        if previous.time_zone != obj.time_zone:
            # Through the service: audited in the tenant's own chain.
            wanted, obj.time_zone = obj.time_zone, previous.time_zone
            services.tenant_set_time_zone(tenant=previous, time_zone=wanted, actor=request.user)
            obj.time_zone = wanted
        if previous.mfa_required_for_admins != obj.mfa_required_for_admins:
            # Through the service, so the change lands in the tenant's own audit chain.
            wanted, obj.mfa_required_for_admins = obj.mfa_required_for_admins, previous.mfa_required_for_admins
            services.tenant_set_admin_mfa(tenant=previous, required=wanted, actor=request.user)
            obj.mfa_required_for_admins = wanted
        if previous.status != obj.status:
            status, reason = obj.status, obj.suspended_reason
            obj.status, obj.suspended_reason = previous.status, previous.suspended_reason
            super().save_model(request, obj, form, change)
            if status == "suspended":
                services.tenant_suspend(tenant=obj, reason=reason or "suspended by platform admin", actor=request.user)
            else:
                services.tenant_activate(tenant=obj, actor=request.user)
            return
        super().save_model(request, obj, form, change)

    def save_form(self, request, form, change):
        if not change:
            return form.provision(actor=request.user)
        return super().save_form(request, form, change)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    @admin.action(description=_("Suspend selected tenants"))
    def suspend(self, request, queryset):
        for tenant in queryset:
            services.tenant_suspend(tenant=tenant, reason="suspended by platform admin", actor=request.user)
        self.message_user(request, _("Suspended %d tenant(s).") % queryset.count(), messages.SUCCESS)

    @admin.action(description=_("Reactivate selected tenants"))
    def activate(self, request, queryset):
        for tenant in queryset:
            services.tenant_activate(tenant=tenant, actor=request.user)
        self.message_user(request, _("Reactivated %d tenant(s).") % queryset.count(), messages.SUCCESS)


__all__ = ["TenantAdmin", "Region"]
