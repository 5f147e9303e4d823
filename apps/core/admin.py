"""The admin site and the base ModelAdmin: permissions from the one permission module,
and every admin create/update/delete appended to the tenant's audit chain."""

from __future__ import annotations

import logging

from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db import DEFAULT_DB_ALIAS, connection, router
from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.accounts import permissions

logger = logging.getLogger(__name__)

_VERBS = {ADDITION: "created", CHANGE: "updated", DELETION: "deleted"}


_GUARDED = ("has_module_permission", "has_view_permission", "has_add_permission",
            "has_change_permission", "has_delete_permission")


def _table_here(model) -> bool:
    """Whether `model`'s table exists in the current schema (public or a tenant's)."""
    return bool(router.allow_migrate_model(DEFAULT_DB_ALIAS, model))


class WardenAdminSite(admin.AdminSite):
    site_header = "Warden administration"
    site_title = "Warden"
    index_title = "Administration"

    def register(self, model_or_iterable, admin_class=None, **options):
        """Every ModelAdmin (ours and third-party) answers "no" for a model whose table does
        not exist in the current schema: tenant models on the platform host and public-only
        models on a tenant host are neither listed nor reachable."""
        super().register(model_or_iterable, admin_class, **options)
        models = [model_or_iterable] if isinstance(model_or_iterable, type) else model_or_iterable
        for model in models:
            model_admin = self._registry.get(model)  # swapped models are not registered
            if model_admin is None:
                continue
            for name in _GUARDED:
                original = getattr(model_admin, name)

                def guarded(*args, _original=original, _model=model, **kwargs):
                    return _table_here(_model) and _original(*args, **kwargs)

                setattr(model_admin, name, guarded)

    def has_permission(self, request) -> bool:
        return permissions.can_use_admin_site(request.user)

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        if tenant is not None and not tenant.is_public:
            context["site_header"] = f"{tenant.brand_name} · Warden"
        else:
            context["site_header"] = "Warden platform"
        return context


class WardenModelAdmin(admin.ModelAdmin):
    """Tenant admins manage their tenant; platform admins the platform. Nobody else."""

    def has_module_permission(self, request) -> bool:
        return permissions.can_use_admin_site(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.can_use_admin_site(request.user)

    def has_add_permission(self, request) -> bool:
        return permissions.can_use_admin_site(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return permissions.can_use_admin_site(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return permissions.can_use_admin_site(request.user)

    def log_deletions(self, request, queryset):
        # Bulk deletes are logged with bulk_create (no post_save): audit them here.
        entries = super().log_deletions(request, queryset)
        for entry in entries if isinstance(entries, list) else []:
            audit_admin_entry(entry)
        return entries


class ReadOnlyModelAdmin(WardenModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def audit_admin_entry(entry: LogEntry) -> None:
    if connection.schema_name == "public":
        return
    from apps.audit.services import audit_record

    model = entry.content_type.model_class() if entry.content_type_id else None
    label = model._meta.label_lower if model else "unknown"
    audit_record(
        actor=entry.user,
        action=f"admin.{_VERBS.get(entry.action_flag, 'changed')}",
        target=None,
        payload={
            "model": label,
            "object_id": str(entry.object_id),
            "object": entry.object_repr,
            "changes": entry.get_change_message()[:1000],
        },
    )


@receiver(post_save, sender=LogEntry, dispatch_uid="warden_audit_admin_entry")
def _on_log_entry(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    # Third-party hook (Django admin writes LogEntry inside the change transaction).
    if created:
        audit_admin_entry(instance)
