"""One FilterSet for audit events, used by the API (and any HTML list later)."""

import django_filters

from .models import AuditEvent


class AuditEventFilterSet(django_filters.FilterSet):
    actor = django_filters.NumberFilter(field_name="actor_id", label="Actor (user id)")
    actor_label = django_filters.CharFilter(field_name="actor_label", lookup_expr="iexact")
    action = django_filters.CharFilter(field_name="action")
    target_type = django_filters.CharFilter(field_name="target_type")
    target_id = django_filters.CharFilter(field_name="target_id")
    request_id = django_filters.CharFilter(field_name="request_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = [
            "actor",
            "actor_label",
            "action",
            "target_type",
            "target_id",
            "request_id",
            "created_after",
            "created_before",
        ]
