"""Reads of the connectors app (the current tenant's schema only)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import QuerySet, Sum
from django.utils import timezone

from apps.tenants import residency

from .choices import DeadLetterStatus
from .models import Connector, ConnectorCall, ConnectorDomain, ConnectorUsage, DeadLetter


def connector_list() -> QuerySet[Connector]:
    return Connector.objects.order_by("name", "pk")


def connector_get(*, pk: int) -> Connector | None:
    return Connector.objects.filter(pk=pk).first()


def connector_get_by_name(*, name: str) -> Connector | None:
    return Connector.objects.filter(name=name).first()


def verified_domain_patterns() -> list[str]:
    return list(ConnectorDomain.objects.order_by("pattern").values_list("pattern", flat=True))


def region_problem(connector: Connector) -> str:
    """Why this deployment may not call the connector ("" when it may): its region is
    where the tenant's data may go; a deployment of another region does not call it."""
    if residency.enforced() and connector.region and connector.region != residency.deployment_region():
        return (f"The connector is pinned to region {connector.region}; this deployment serves "
                f"{residency.deployment_region()}.")
    return ""


def writes_today(connector: Connector) -> int:
    row = ConnectorUsage.objects.filter(day=timezone.now().date(), connector_id=connector.pk).values("writes").first()
    return int(row["writes"]) if row else 0


def call_list_recent(*, connector: Connector, limit: int = 50) -> QuerySet[ConnectorCall]:
    return ConnectorCall.objects.filter(connector=connector).order_by("-at", "-pk")[:limit]


def dead_letter_list(*, connector: Connector | None = None, open_only: bool = False) -> QuerySet[DeadLetter]:
    rows = DeadLetter.objects.select_related("connector").order_by("-created_at", "-pk")
    if connector is not None:
        rows = rows.filter(connector=connector)
    if open_only:
        rows = rows.filter(status=DeadLetterStatus.OPEN)
    return rows


def usage_totals(*, start: date, end: date) -> dict[str, int]:
    """The tenant's connector usage from `start` to `end` (inclusive), for metering."""
    totals = ConnectorUsage.objects.filter(day__gte=start, day__lte=end).aggregate(
        calls=Sum("calls"), writes=Sum("writes"), failures=Sum("failures"), refused=Sum("refused"),
        dry_runs=Sum("dry_runs"),
    )
    return {key: int(value or 0) for key, value in totals.items()}


def usage_last_days(*, days: int = 30) -> dict[str, int]:
    today = timezone.now().date()
    return usage_totals(start=today - timedelta(days=days - 1), end=today)
