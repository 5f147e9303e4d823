"""The outbox in the tenant's admin: failed and dead-lettered deliveries, and a retry.

Read-only except for the retry action, which goes through `delivery_retry` (policy
`outbox.retry`, audited as `outbox.retried`)."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.accounts.admin_site import ReadOnlyModelAdmin
from apps.core import governance
from apps.core.errors import ApplicationError

from .choices import DeliveryStatus
from .models import Delivery, OutboxEvent
from .services.deliveries import RETRYABLE, delivery_retry


class SubscriberFilter(admin.SimpleListFilter):
    """The registered subscribers (from code, no DISTINCT over the table)."""

    title = _("subscriber")
    parameter_name = "subscriber"

    def lookups(self, request, model_admin):
        from .consumers import CONSUMERS

        return [(name, name) for name in sorted(CONSUMERS.subscribers)]

    def queryset(self, request, queryset):
        return queryset.filter(subscriber=self.value()) if self.value() else queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "subscriber", "event_link", "status", "attempts", "next_attempt_at", "short_error", "updated_at")
    list_filter = ("status", SubscriberFilter)
    list_select_related = ("event",)
    search_fields = ("=event__id", "event__event_type", "subscriber")
    ordering = ("-updated_at",)
    actions = ("retry",)
    fields = ("event_link", "subscriber", "status", "attempts", "next_attempt_at", "last_error", "created_at",
              "updated_at", "done_at", "payload")
    readonly_fields = fields
    show_full_result_count = False

    def get_queryset(self, request):
        # Delivered rows are the bulk of the table and need no one: shown only when asked for.
        queryset = super().get_queryset(request)
        if "status__exact" not in request.GET and "id__exact" not in request.GET:
            queryset = queryset.exclude(status=DeliveryStatus.DONE)
        return queryset

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        # The retry action is shown although the admin is read-only (it changes nothing here).
        actions = super().get_actions(request)
        if "retry" not in actions and self.has_view_permission(request):
            actions["retry"] = self.get_action("retry")
        return actions

    @admin.display(description=_("event"))
    def event_link(self, obj: Delivery):
        return format_html("#{} {}", obj.event_id, obj.event.event_type)

    @admin.display(description=_("last error"))
    def short_error(self, obj: Delivery) -> str:
        return (obj.last_error or "")[:120]

    @admin.display(description=_("payload"))
    def payload(self, obj: Delivery) -> str:
        return json.dumps(obj.event.payload, sort_keys=True)

    @admin.action(description=_("Retry the selected failed or dead-lettered deliveries"))
    def retry(self, request, queryset):
        ids = list(queryset.filter(status__in=RETRYABLE).values_list("pk", flat=True))
        try:
            count = delivery_retry(actor=request.user, delivery_ids=ids)
        except ApplicationError as exc:
            governance.persist_denial(exc)
            self.message_user(request, exc.message, level=messages.ERROR)
            return
        skipped = queryset.count() - count
        self.message_user(
            request,
            ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.", count) % {"count": count},
            level=messages.SUCCESS,
        )
        if skipped > 0:
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected delivery was not failed or dead-lettered; it was left alone.",
                    "%(count)d selected deliveries were not failed or dead-lettered; they were left alone.",
                    skipped,
                ) % {"count": skipped},
                level=messages.WARNING,
            )


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ("subscriber", "status", "attempts", "next_attempt_at", "last_error", "done_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class EventTypeFilter(admin.SimpleListFilter):
    """The declared event types (from code, no DISTINCT over the table)."""

    title = _("event type")
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        from .types import EVENT_TYPES

        return [(name, name) for name in EVENT_TYPES.names()]

    def queryset(self, request, queryset):
        return queryset.filter(event_type=self.value()) if self.value() else queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "event_type", "version", "actor", "occurred_at", "causation_id")
    list_filter = (EventTypeFilter,)
    search_fields = ("=id", "event_type", "=request_id")
    ordering = ("-id",)
    inlines = (DeliveryInline,)
    fields = ("event_type", "version", "payload", "actor", "request_id", "causation_id", "trail", "occurred_at")
    readonly_fields = fields
    show_full_result_count = False

    def get_queryset(self, request):
        # Events store the actor's id only; the admin shows who that is (one subquery).
        from django.db.models import OuterRef, Subquery

        from apps.accounts.models import User

        email = User.objects.filter(pk=OuterRef("actor_id")).values("email")[:1]
        return super().get_queryset(request).annotate(actor_email=Subquery(email))

    @admin.display(description=_("actor"))
    def actor(self, obj: OutboxEvent) -> str:
        return getattr(obj, "actor_email", None) or obj.actor_label

