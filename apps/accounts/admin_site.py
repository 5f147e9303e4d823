"""The admin site and the base ModelAdmin: permissions from the one permission module,
and every admin create/update/delete appended to the tenant's audit chain.

Auditing is hooked where every admin class passes, ours and third-party ones alike:

* additions, changes and single deletions: Django writes one `LogEntry` with `save()`
  inside the change or delete view's transaction; a `post_save` receiver audits it;
* bulk deletions ("delete selected"): Django writes their `LogEntry` rows with
  `bulk_create` (no signal), so the site wraps every registered admin's `log_deletions`
  (to collect the entries no signal saw) and `delete_queryset` (to audit them in one
  transaction with the deletion itself: the events exist exactly when the rows are gone).
"""

from __future__ import annotations

import json
import logging

from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db import DEFAULT_DB_ALIAS, connection, models, router, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from apps.core import governance
from apps.core.forms import MultilineTextField

from . import permissions

logger = logging.getLogger(__name__)

_VERBS = {ADDITION: "created", CHANGE: "updated", DELETION: "deleted"}


_GUARDED = ("has_module_permission", "has_view_permission", "has_add_permission",
            "has_change_permission", "has_delete_permission")


def _table_here(model) -> bool:
    """Whether `model`'s table exists in the current schema (public or a tenant's)."""
    return bool(router.allow_migrate_model(DEFAULT_DB_ALIAS, model))


class WardenAdminSite(admin.AdminSite):
    site_header = _("Warden administration")
    site_title = "Warden"
    index_title = _("Administration")

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
            _audit_bulk_deletions(model_admin)

    def has_permission(self, request) -> bool:
        return permissions.can_use_admin_site(request.user)

    def get_app_list(self, request, app_label=None):
        """The models, plus the tenant's settings pages that are views rather than models
        (Security, Time zone), so that a tenant admin finds them on the index."""
        app_list = super().get_app_list(request, app_label)
        tenant = getattr(request, "tenant", None)
        if app_label is None and tenant is not None and not tenant.is_public and permissions.is_tenant_admin(request.user):
            from django.urls import reverse
            from django.utils.translation import gettext

            pages = [(gettext("Security"), "Security", reverse("tenant-security")),
                     (gettext("Time zone"), "TimeZone", reverse("tenant-time-zone"))]
            # Listed with the people (django-tenants' admin index shows only sections named
            # after an app installed in the tenant's schema).
            for app in app_list:
                if app["app_label"] == "accounts":
                    app["models"].extend({
                        "name": name,
                        "object_name": object_name,
                        "admin_url": url,
                        "add_url": None,
                        "view_only": False,
                        "perms": {"view": True, "add": False, "change": True, "delete": False},
                    } for name, object_name, url in pages)
        return app_list

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        if tenant is not None and not tenant.is_public:
            context["site_header"] = f"{tenant.brand_name} · Warden"
        else:
            context["site_header"] = _("Warden platform")
        return context


class WardenModelAdmin(admin.ModelAdmin):
    """Tenant admins manage their tenant; platform admins the platform. Nobody else.

    Text areas give back their text with the line breaks as stored, so that a form saved
    unchanged is unchanged (tests/admin/test_round_trip.py)."""

    formfield_overrides = {models.TextField: {"form_class": MultilineTextField}}

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


class AuditedByServicesMixin:
    """For admin classes whose add and change go through services: the service appends
    the specific event (`ticket.updated`, `user.role_changed`, ...) in its own transaction,
    so the admin's history entry must not add a second, generic `admin.*` event.

    The history (`LogEntry`) is still written, for the admin's "History" page, but with
    `bulk_create`, which sends no `post_save`: `_on_log_entry` never sees it. Deletions
    keep Django's logging (and so the generic event) unless the class overrides them.
    """

    def log_addition(self, request, obj, message):
        return log_history(request, [obj], ADDITION, message)[0]

    def log_change(self, request, obj, message):
        return log_history(request, [obj], CHANGE, message)[0]


def log_history(request, objects, flag: int, message="") -> list[LogEntry]:
    """Admin history entries for `objects`, written without the generic audit event."""
    from django.contrib.admin.options import get_content_type_for_model

    if isinstance(message, list):
        message = json.dumps(message)
    return LogEntry.objects.bulk_create(
        [
            LogEntry(
                user_id=request.user.pk,
                content_type_id=get_content_type_for_model(obj).pk,
                object_id=str(obj.pk),
                object_repr=str(obj)[:200],
                action_flag=flag,
                change_message=message,
            )
            for obj in objects
        ]
    )


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
    model = entry.content_type.model_class() if entry.content_type_id else None
    label = model._meta.label_lower if model else "unknown"
    governance.record(
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


_PENDING = "_warden_unaudited_deletions"


def _audit_bulk_deletions(model_admin) -> None:
    """Wrap one registered admin's bulk-deletion steps (see the module docstring)."""
    log_deletions = model_admin.log_deletions
    delete_queryset = model_admin.delete_queryset

    def logging_deletions(request, queryset, _original=log_deletions):
        entries = _original(request, queryset)
        listed = entries if isinstance(entries, list) else [entries] if isinstance(entries, LogEntry) else []
        unaudited = [entry for entry in listed if not getattr(entry, "_warden_audited", False)]
        setattr(request, _PENDING, [*getattr(request, _PENDING, []), *unaudited])
        return entries

    def deleting_queryset(request, queryset, _original=delete_queryset):
        pending = getattr(request, _PENDING, [])
        setattr(request, _PENDING, [])
        with transaction.atomic():
            for entry in pending:
                audit_admin_entry(entry)
            _original(request, queryset)

    model_admin.log_deletions = logging_deletions
    model_admin.delete_queryset = deleting_queryset


@receiver(post_save, sender=LogEntry, dispatch_uid="warden_audit_admin_entry")
def _on_log_entry(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    # Third-party hook (Django admin writes LogEntry inside the change transaction).
    if created:
        audit_admin_entry(instance)
        instance._warden_audited = True
