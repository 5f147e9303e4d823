"""Reads of the ServiceNow kind (the current tenant's schema only)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from ..choices import Status
from ..models import Connector
from . import KIND
from .models import IncidentLink, SyncState, WriteBack, WriteBackKind, WriteBackStatus, incident_url


def servicenow_connector_list(*, enabled_only: bool = False) -> QuerySet[Connector]:
    connectors = Connector.objects.filter(kind=KIND.name).order_by("name", "pk")
    return connectors.filter(status=Status.ACTIVE) if enabled_only else connectors


def sync_state_get(connector: Connector) -> SyncState:
    """The connector's sync state, created (empty) the first time it is asked for."""
    state, _ = SyncState.objects.get_or_create(connector=connector)
    return state


def link_map(*, connector: Connector, sys_ids: Iterable[str], for_update: bool = False) -> dict[str, IncidentLink]:
    links = IncidentLink.objects.filter(connector=connector, sys_id__in=list(sys_ids))
    if for_update:
        links = links.select_for_update().order_by("pk")
    return {link.sys_id: link for link in links}


def link_for_ticket(*, ticket_id: int) -> IncidentLink | None:
    """The incident a ticket was imported from (with its connector, for `url`)."""
    return IncidentLink.objects.select_related("connector").filter(ticket_id=ticket_id).first()


def ticket_source(*, ticket_id: int) -> dict[str, str] | None:
    """What the desk shows as the ticket's source: the incident number and its page."""
    return ticket_sources(ticket_ids=[ticket_id]).get(ticket_id)


def ticket_sources(*, ticket_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """`ticket_source` for many tickets in one query: ticket id -> source (imported ones only)."""
    rows = IncidentLink.objects.filter(ticket_id__in=list(ticket_ids)).values(
        "ticket_id", "number", "sys_id", "connector__base_url", "connector__name")
    return {row["ticket_id"]: {"system": "ServiceNow", "number": row["number"], "sys_id": row["sys_id"],
                               "connector": row["connector__name"],
                               "url": incident_url(row["connector__base_url"], row["sys_id"])} for row in rows}


def writeback_get(*, pk: int) -> WriteBack | None:
    return WriteBack.objects.select_related("connector", "ticket", "undo_of").filter(pk=pk).first()


def writeback_list(*, connector: Connector | None = None, ticket_id: int | None = None) -> QuerySet[WriteBack]:
    rows = WriteBack.objects.select_related("connector").order_by("-created_at", "-pk")
    if connector is not None:
        rows = rows.filter(connector=connector)
    if ticket_id is not None:
        rows = rows.filter(ticket_id=ticket_id)
    return rows


def writes_sent_today(connector: Connector) -> int:
    """Write-backs and undos sent to ServiceNow today (UTC), for the daily write cap."""
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return WriteBack.objects.filter(connector=connector, sent_at__gte=start).exclude(
        status__in=[WriteBackStatus.DRY_RUN, WriteBackStatus.PENDING]).count()


def undo_of(writeback: WriteBack) -> WriteBack | None:
    return WriteBack.objects.filter(undo_of=writeback, kind=WriteBackKind.UNDO).order_by("-pk").first()
