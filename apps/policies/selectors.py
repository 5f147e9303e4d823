"""Reads of the tenant's policies and decision log."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Max, QuerySet

from .models import DecisionLog, PolicySet, PolicyVersion


def policy_set_get() -> PolicySet | None:
    """The tenant's policy set with its version in force (one query)."""
    return PolicySet.objects.select_related("current_version").first()


def policy_version_list() -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.select_related("created_by").order_by("-number")


def policy_version_get(*, number: int) -> PolicyVersion | None:
    return policy_version_list().filter(number=number).first()


def policy_version_latest_number() -> int | None:
    return PolicyVersion.objects.aggregate(latest=Max("number"))["latest"]


def decision_log_between(*, since: datetime, until: datetime) -> QuerySet[DecisionLog]:
    return DecisionLog.objects.filter(created_at__gte=since, created_at__lte=until).order_by("created_at", "pk")
