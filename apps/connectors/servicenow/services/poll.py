"""Polling ServiceNow for changed incidents and mirroring them as Warden tickets.

One run (`servicenow_poll`):

1. takes the connector's lease (one run per connector at a time; a crashed run's lease
   expires after WARDEN_SERVICENOW_LEASE_SECONDS);
2. asks for incidents with `sys_updated_on >= watermark - overlap` and
   `sys_updated_on < <start of the run>`, `ORDERBYsys_updated_on^ORDERBYsys_id`, plus the
   admin's filter, every field name checked first (an unknown one is refused: nothing is
   fetched);
3. reads page after page by following the `Link` header's next link, and applies each
   page in ONE transaction: new incidents become tickets (`ticket_import_many`: policy,
   audit, events), changed ones update their ticket through the tickets services,
   re-read ones (the same `sys_mod_count` or lower) change nothing, and the watermark moves
   to the page's last `sys_updated_on` in that same transaction: it advances only when
   the rows it covers are committed;
4. stops at the end, on an error (429 after its retries, 5xx, timeouts, the circuit
   open: the watermark stays where the last committed page left it), on its page or
   time budget (`more`: the next run continues), or when `X-Total-Count` changes between
   pages: records left the range while we paged, offsets shifted and a page could have
   skipped some, so that page is not applied and the next run reads again from the
   watermark.

Imports run as the system (policy subject `system`; audited as such with the connector
named in the payload). Requesters: the Warden user whose email is the caller's, else
the connector's integration user (created once, requester role, no password).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from psycopg.types.json import Jsonb

from apps.accounts.models import Role, Team, User
from apps.accounts.services import user_create
from apps.audit.services import audit_record, tenant_is_metadata_only
from apps.core.errors import ApplicationError, PermissionDenied
from apps.policies.services import policy_denial_persist_any, policy_require
from apps.tickets import conf as tickets_conf
from apps.tickets import services as tickets
from apps.tickets import workflow
from apps.tickets.models import Category, Ticket

from ...actions import CONNECTOR_CONFIGURE, CONNECTOR_OPERATE
from ...choices import Status
from ...client import ConnectorError
from ...models import Connector
from ...services.connectors import connector_record_sync
from .. import conf, mapping
from .. import query as q
from ..client import TableApi
from ..models import IncidentLink, SyncState
from ..selectors import sync_state_get

logger = logging.getLogger(__name__)

SOURCE = "servicenow"


@dataclass
class PollResult:
    connector: str
    pages: int = 0
    fetched: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    not_applied: int = 0
    invalid: int = 0
    watermark: str | None = None
    more: bool = False
    stopped: str = ""  # why the run ended early: pages, time, shifted
    skipped: str = ""  # why it did not run: busy
    error: str = ""
    error_code: str = ""
    retry_after: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and not self.skipped

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["notes"] = self.notes[:20]
        return data

    def line(self) -> str:
        if self.skipped:
            return f"{self.connector}: skipped ({self.skipped})"
        text = (f"{self.connector}: {self.pages} page(s), {self.fetched} fetched, {self.imported} imported, "
                f"{self.updated} updated, {self.unchanged} unchanged, watermark {self.watermark or '-'}")
        if self.more:
            text += f", more to read ({self.stopped})"
        if self.error:
            text += f"; stopped on error: {self.error}"
        return text


class PollRefused(ApplicationError):
    """The poll cannot start (not a ServiceNow connector, disabled, an invalid filter)."""


# --- The run ---------------------------------------------------------------------------------


def servicenow_poll(*, connector: Connector, max_pages: int | None = None, run_seconds: float | None = None,
                    page_size: int | None = None, sleep=None, resolver=None) -> PollResult:
    """One bounded poll of `connector` (see the module docstring). Call it outside a
    transaction: each page commits on its own."""
    if connector.kind != SOURCE:
        raise PollRefused(f"Connector {connector.name!r} is not a ServiceNow connector.")
    if connector.status != Status.ACTIVE:
        raise PollRefused(f"Connector {connector.name!r} is disabled: {connector.disabled_reason or 'by an admin'}.")
    result = PollResult(connector=connector.name)
    state = sync_state_get(connector)
    try:
        filter_conditions = q.parse_filter("incident", state.query_filter)
    except q.QueryInvalid as exc:
        raise PollRefused(f"The connector's filter is invalid: {exc.message}") from None
    started = timezone.now()
    lease = _claim(state, started)
    if lease is None:
        result.skipped = "busy"
        return result
    max_pages = int(max_pages or conf.get("WARDEN_SERVICENOW_MAX_PAGES"))
    deadline = time.monotonic() + float(run_seconds or conf.get("WARDEN_SERVICENOW_RUN_SECONDS"))
    full_content = not tenant_is_metadata_only()
    options = {k: v for k, v in {"sleep": sleep, "resolver": resolver}.items() if v is not None}
    api = TableApi(connector, **options)
    try:
        state.refresh_from_db()
        result.watermark = _iso(state.watermark)
        conditions = list(filter_conditions)
        if state.watermark is not None:
            since = state.watermark - timedelta(seconds=int(conf.get("WARDEN_SERVICENOW_OVERLAP_SECONDS")))
            conditions.append(q.Condition("sys_updated_on", ">=", q.glide_time(since)))
        conditions.append(q.Condition("sys_updated_on", "<", q.glide_time(started)))
        query = q.Query("incident", tuple(conditions), order_by=("sys_updated_on", "sys_id"))
        path, expected = api.first_page_path(query=query, fields=mapping.poll_fields(full_content=full_content),
                                             limit=int(page_size or conf.get("WARDEN_SERVICENOW_PAGE_SIZE")))
        first_total: int | None = None
        while path is not None:
            if result.pages >= max_pages:
                result.more, result.stopped = True, "pages"
                break
            if time.monotonic() >= deadline:
                result.more, result.stopped = True, "time"
                break
            page = api.page(path, table="incident", expected=expected)
            if first_total is None:
                first_total = page.total
            elif page.total is not None and page.total != first_total:
                result.more, result.stopped = True, "shifted"
                break  # this page may have skipped records: not applied; the next run reads again
            result.pages += 1
            result.fetched += len(page.rows)
            _apply_page(connector=connector, state_id=state.pk, rows=page.rows, full_content=full_content, result=result)
            path = page.next_path
    except q.QueryInvalid as exc:
        result.error, result.error_code = exc.message, "query"
    except PermissionDenied as exc:  # the policies refuse the import (a PolicyDenied): nothing of the page stays
        result.error, result.error_code = exc.message, "denied"
        policy_denial_persist_any(exc)  # the page's rollback took the denial's record with it
        logger.warning("servicenow poll of %s refused by policy: %s", connector.name, exc.message)
    except ConnectorError as exc:
        result.error, result.error_code, result.retry_after = exc.message, exc.code, exc.retry_after
        logger.warning("servicenow poll of %s stopped: %s", connector.name, exc.message)
    finally:
        _release(state.pk, lease, result)
    if result.ok and not result.more:
        connector_record_sync(connector=connector)
    return result


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _claim(state: SyncState, now: datetime) -> str | None:
    token = uuid.uuid4().hex
    until = now + timedelta(seconds=int(conf.get("WARDEN_SERVICENOW_LEASE_SECONDS")))
    claimed = SyncState.objects.filter(pk=state.pk).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now)).update(
        lease_until=until, lease_owner=token, last_started_at=now)
    return token if claimed else None


def _release(state_id: int, token: str, result: PollResult) -> None:
    now = timezone.now()
    values: dict[str, Any] = {"lease_until": None, "lease_owner": "", "last_finished_at": now,
                              "last_error": result.error[:300], "last_summary": result.as_dict()}
    if result.ok and not result.more:
        values["last_success_at"] = now
    SyncState.objects.filter(pk=state_id, lease_owner=token).update(**values)


# --- One page, one transaction -------------------------------------------------------------------


@transaction.atomic
def _apply_page(*, connector: Connector, state_id: int, rows: list[dict], full_content: bool,
                result: PollResult) -> None:
    state = SyncState.objects.select_for_update().get(pk=state_id)
    incidents: dict[str, mapping.Incident] = {}
    latest = None
    for row in rows:
        try:
            incident = mapping.incident_from_row(row, full_content=full_content)
        except mapping.RowInvalid as exc:
            result.invalid += 1
            result.notes.append(f"invalid row: {exc}")
            continue
        latest = incident.updated_on if latest is None else max(latest, incident.updated_on)
        seen = incidents.get(incident.sys_id)
        if seen is None or incident.mod_count > seen.mod_count:
            incidents[incident.sys_id] = incident
        else:
            result.unchanged += 1
    links = IncidentLink.objects.select_for_update().filter(connector=connector, sys_id__in=list(incidents))
    links_by_id = {link.sys_id: link for link in links.order_by("pk")}
    new, changed = [], []
    for incident in incidents.values():
        link = links_by_id.get(incident.sys_id)
        if link is None:
            new.append(incident)
        elif incident.mod_count > link.sys_mod_count:
            changed.append((link, incident))
        else:
            result.unchanged += 1  # read again (overlap window, a later page): already imported
    lookups = _Lookups(incidents.values())
    opened = _import(connector=connector, state=state, incidents=new, lookups=lookups, result=result) if new else 0
    result.imported += opened
    if changed:
        result.not_applied += _update(connector=connector, changed=changed, lookups=lookups, notes=result.notes)
        result.updated += len(changed)
    if latest is not None and (state.watermark is None or latest > state.watermark):
        state.watermark = latest
    state.imported_total += opened
    state.updated_total += len(changed)
    state.save(update_fields=["watermark", "imported_total", "updated_total", "integration_user"])
    result.watermark = _iso(state.watermark)


class _Lookups:
    """The Warden users, teams and categories a page's incidents name (three queries)."""

    def __init__(self, incidents) -> None:
        incidents = list(incidents)
        emails = {i.caller_email for i in incidents if i.caller_email}
        self.users = dict(User.objects.filter(email__in=emails, is_active=True).values_list("email", "pk")) if emails else {}
        groups = {i.assignment_group_name.lower() for i in incidents if i.assignment_group_name}
        self.teams = dict(Team.objects.annotate(key=Lower("name")).filter(key__in=groups).values_list("key", "pk")) \
            if groups else {}
        names = {i.category.lower() for i in incidents if i.category}
        found: dict[str, list[int]] = {}
        if names:
            for key, pk in Category.objects.annotate(key=Lower("name")).filter(key__in=names, archived=False) \
                    .order_by("parent_id", "pk").values_list("key", "pk"):
                found.setdefault(key, []).append(pk)
        self.categories = {key: pks[0] for key, pks in found.items() if len(pks) == 1}  # ambiguous names: none

    def team(self, incident: mapping.Incident) -> int | None:
        return self.teams.get(incident.assignment_group_name.lower()) if incident.assignment_group_name else None

    def category(self, incident: mapping.Incident) -> int | None:
        return self.categories.get(incident.category.lower()) if incident.category else None


def _integration_user(connector: Connector, state: SyncState) -> int:
    """The requester of imported tickets whose caller is not a Warden user: one per
    connector, requester role, no password (it cannot sign in)."""
    if state.integration_user_id is not None:
        return state.integration_user_id
    email = f"servicenow-{connector.name}@connectors.warden.invalid"
    user = User.objects.filter(email=email).first()
    if user is None:
        user = user_create(email=email, role=Role.REQUESTER, password=None, full_name=f"ServiceNow ({connector.name})",
                           actor=None, actor_label=f"connector:{connector.name}", validate=False)
    state.integration_user = user
    return user.pk


def _import(*, connector: Connector, state: SyncState, incidents: list[mapping.Incident], lookups: _Lookups,
            result: PollResult) -> int:
    """Open a ticket per new incident, in one batch; when the batch is refused (an
    incident Warden cannot take as a ticket), one by one, skipping and noting the ones
    refused, so that one bad record never stops the poll. Returns the tickets opened."""
    pairs = list(zip(_import_rows(connector, state, incidents, lookups), incidents, strict=True))
    try:
        with transaction.atomic():
            _import_batch(connector, pairs)
        return len(pairs)
    except PermissionDenied:
        raise  # a policy that refuses imports stops the poll; the watermark stays
    except ApplicationError:
        pass
    opened = 0
    for pair in pairs:
        try:
            with transaction.atomic():
                _import_batch(connector, [pair])
            opened += 1
        except PermissionDenied:
            raise
        except ApplicationError as exc:
            result.invalid += 1
            result.notes.append(f"{pair[1].number} not imported: {exc.message}")
    return opened


def _import_rows(connector: Connector, state: SyncState, incidents: list[mapping.Incident],
                 lookups: _Lookups) -> list[tickets.ImportRow]:
    max_bytes = int(tickets_conf.get("WARDEN_TICKETS_BODY_MAX_BYTES"))
    rows = []
    for incident in incidents:
        requester = lookups.users.get(incident.caller_email) or _integration_user(connector, state)
        status = mapping.ticket_status(incident.state)
        done = status in (workflow.RESOLVED, workflow.CLOSED)
        rows.append(tickets.ImportRow(
            title=mapping.ticket_title(incident), description=mapping.ticket_description(incident, max_bytes=max_bytes),
            requester_id=requester, impact=mapping.ticket_level(incident.impact),
            urgency=mapping.ticket_level(incident.urgency), status=status, category_id=lookups.category(incident),
            team_id=lookups.team(incident), created_at=incident.opened_at or incident.created_on or incident.updated_on,
            resolved_at=incident.resolved_at, closed_at=incident.closed_at,
            resolution_code=mapping.resolution_code(incident.close_code) if done else "",
            resolution_note=mapping.resolution_note(incident) if done else "",
        ))
    return rows


def _import_batch(connector: Connector, pairs: list[tuple[tickets.ImportRow, mapping.Incident]]) -> None:
    created = tickets.ticket_import_many(actor=None, rows=[row for row, _ in pairs], source=SOURCE,
                                         origin=connector.name)
    now = timezone.now()
    _copy_links([
        (connector.pk, ticket.pk, incident.sys_id, incident.number, incident.mod_count, incident.updated_on,
         Jsonb(incident.snapshot()), "", now, now)
        for ticket, (_, incident) in zip(created, pairs, strict=True)
    ])


_LINK_COLUMNS = ("connector_id", "ticket_id", "sys_id", "number", "sys_mod_count", "sys_updated_on", "snapshot",
                 "sync_note", "imported_at", "updated_at")


def _copy_links(rows: list[tuple]) -> None:
    """New links in one binary COPY (the page's incidents were checked absent under lock;
    the unique (connector, sys_id) constraint still stands behind it)."""
    table = connection.ops.quote_name(IncidentLink._meta.db_table)
    columns = ", ".join(_LINK_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} LIMIT 0")  # noqa: S608 - our own column names
        types = [column.type_code for column in cursor.description]
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def _update(*, connector: Connector, changed: list[tuple[IncidentLink, mapping.Incident]], lookups: _Lookups,
            notes: list[str]) -> int:
    """Apply what changed in ServiceNow since each link's snapshot to its ticket: impact,
    urgency, category and team of the whole page in one `ticket_sync_many` (one by one
    through `ticket_update` / `ticket_assign` if the batch is refused), status and text
    through the per-ticket services, each in a savepoint: a change the workflow refuses is
    noted on the link and the rest goes on. Returns how many changes were not applied."""
    tickets_by_id = {t.pk: t for t in Ticket.objects.filter(pk__in=[link.ticket_id for link, _ in changed])}
    problems: dict[int, list[str]] = {link.pk: [] for link, _ in changed}
    batch: list[tuple[IncidentLink, tickets.SyncChange]] = []
    for link, incident in changed:
        ticket = tickets_by_id.get(link.ticket_id)
        if ticket is None:
            continue
        fields = mapping.changed_fields(link.snapshot or {}, incident)
        change = _sync_change(ticket, fields, incident, lookups)
        if change is not None:
            batch.append((link, change))
    if batch:
        try:
            with transaction.atomic():
                tickets.ticket_sync_many(actor=None, changes=[change for _, change in batch], source=SOURCE,
                                         origin=connector.name)
        except PermissionDenied:
            raise
        except ApplicationError:
            for link, change in batch:
                problems[link.pk] += _sync_one(tickets_by_id[change.ticket_id], change)
    for link, incident in changed:
        ticket = tickets_by_id.get(link.ticket_id)
        if ticket is not None:
            problems[link.pk] += _apply_changes(ticket, link.snapshot or {}, incident)
    now = timezone.now()
    refused = 0
    for link, incident in changed:
        found = problems[link.pk]
        refused += len(found)
        notes.extend(f"{incident.number}: {problem}" for problem in found)
        link.number, link.sys_mod_count, link.sys_updated_on = incident.number, incident.mod_count, incident.updated_on
        link.snapshot, link.sync_note, link.updated_at = incident.snapshot(), "; ".join(found)[:300], now
    _update_links([link for link, _ in changed], now)
    return refused


def _sync_change(ticket: Ticket, fields: set[str], incident: mapping.Incident,
                 lookups: _Lookups) -> tickets.SyncChange | None:
    values: dict[str, Any] = {}
    if fields & {"impact", "urgency"}:
        values.update(impact=mapping.ticket_level(incident.impact), urgency=mapping.ticket_level(incident.urgency))
    if "category" in fields and lookups.category(incident) is not None:
        values["category_id"] = lookups.category(incident)
    if "assignment_group_name" in fields and lookups.team(incident) is not None:
        values["team_id"] = lookups.team(incident)
    if not values or ticket.status in workflow.TERMINAL:
        return None
    return tickets.SyncChange(ticket_id=ticket.pk, **values)


def _attempt(problems: list[str], what: str, call) -> None:
    try:
        with transaction.atomic():
            call()
    except PermissionDenied as exc:
        problems.append(f"{what} not applied: {exc.message}")
    except (ApplicationError, ValueError) as exc:  # Conflict, workflow refusals
        problems.append(f"{what} not applied: {getattr(exc, 'message', exc)}")


def _sync_one(ticket: Ticket, change: tickets.SyncChange) -> list[str]:
    """One ticket's change through the per-ticket services (when a batch was refused)."""
    problems: list[str] = []
    update = {name: getattr(change, key) for name, key in (("impact", "impact"), ("urgency", "urgency"),
                                                          ("category", "category_id"))
              if getattr(change, key) is not tickets.UNSET}
    if update:
        _attempt(problems, "update", lambda: tickets.ticket_update(actor=None, ticket=ticket, **update))
    if change.team_id is not tickets.UNSET:
        _attempt(problems, "team", lambda: tickets.ticket_assign(actor=None, ticket=ticket, team=change.team_id))
    return problems


_UPDATE_LINKS = """
UPDATE {table} AS l SET number = v.number, sys_mod_count = v.mod_count, sys_updated_on = v.updated_on,
       snapshot = v.snapshot, sync_note = v.note, updated_at = %s
FROM unnest(%s::bigint[], %s::varchar[], %s::integer[], %s::timestamptz[], %s::jsonb[], %s::varchar[])
     AS v(id, number, mod_count, updated_on, snapshot, note)
WHERE l.id = v.id
"""


def _update_links(links: list[IncidentLink], now) -> None:
    """The changed links in one statement (Django's bulk_update writes a CASE per field
    and row: quadratic on a page of a thousand)."""
    table = connection.ops.quote_name(IncidentLink._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE_LINKS.format(table=table), [
            now, [link.pk for link in links], [link.number for link in links], [link.sys_mod_count for link in links],
            [link.sys_updated_on for link in links], [Jsonb(link.snapshot) for link in links],
            [link.sync_note for link in links],
        ])


def _apply_changes(ticket: Ticket, before: dict, incident: mapping.Incident) -> list[str]:
    """The text (full-content tenants) and the status, through the per-ticket services."""
    fields = mapping.changed_fields(before, incident)
    problems: list[str] = []
    reason = f"Changed in ServiceNow ({incident.number})"
    update: dict[str, Any] = {}
    if incident.full_content and "short_description" in fields:
        update["title"] = mapping.ticket_title(incident)
    if incident.full_content and "description" in fields:
        update["description"] = mapping.ticket_description(
            incident, max_bytes=int(tickets_conf.get("WARDEN_TICKETS_BODY_MAX_BYTES")))
    if update and ticket.status not in workflow.TERMINAL:
        _attempt(problems, "text", lambda: tickets.ticket_update(actor=None, ticket=ticket, **update))
    if "state" in fields:
        ticket.refresh_from_db(fields=["status"])
        target = mapping.ticket_status(incident.state)
        path = status_path(ticket.status, target)
        if path is None:
            problems.append(f"status {ticket.status} -> {target} not applied: the workflow has no such move")
        for step in path or ():
            _attempt(problems, f"status {step}", lambda step=step: tickets.ticket_transition(
                actor=None, ticket=ticket, to=step, reason=reason,
                resolution_code=mapping.resolution_code(incident.close_code) if step == workflow.RESOLVED else "",
                resolution_note=mapping.resolution_note(incident) if step == workflow.RESOLVED else ""))
            ticket.refresh_from_db(fields=["status"])
            if ticket.status != step:
                break
    return problems


def status_path(current: str, target: str) -> list[str] | None:
    """The workflow moves that take a ticket from `current` to `target` (as the system),
    [] when already there, None when the workflow has no way."""
    if current == target:
        return []
    role = workflow.ADMIN
    if workflow.is_allowed(role, current, target):
        return [target]
    if target == workflow.CLOSED and workflow.is_allowed(role, current, workflow.RESOLVED):
        return [workflow.RESOLVED, workflow.CLOSED]
    if current == workflow.RESOLVED and target in (workflow.PENDING, workflow.NEW):
        return [workflow.OPEN] + ([workflow.PENDING] if target == workflow.PENDING else [])
    return None


@transaction.atomic
def servicenow_filter_set(*, actor, connector: Connector, query_filter: str) -> SyncState:
    """Set the encoded query ANDed to every poll of `connector` (policy
    `connector.configure`, audited). Every field name is checked: a filter ServiceNow would
    silently widen to every record is refused."""
    policy_require(actor, CONNECTOR_CONFIGURE, connector, {"operation": "servicenow_filter"})
    text = (query_filter or "").strip()
    try:
        q.parse_filter("incident", text)
    except q.QueryInvalid as exc:
        raise ApplicationError(exc.message, errors={"query_filter": [exc.message]}) from None
    state = sync_state_get(connector)
    state = SyncState.objects.select_for_update().get(pk=state.pk)
    if state.query_filter != text:
        audit_record(actor=actor, action="connector.servicenow_filter_changed", target=connector,
                     payload={"name": connector.name, "from": state.query_filter, "to": text})
        state.query_filter = text
        state.save(update_fields=["query_filter"])
    return state


def servicenow_sync_now(*, actor, connector: Connector, actor_label: str | None = None, **options) -> PollResult:
    """A poll someone asked for (the operator's `connector_sync`, the admin's "Sync now"):
    policy `connector.operate` first, then the poll, then an audit event with its summary."""
    with transaction.atomic():
        policy_require(actor, CONNECTOR_OPERATE, connector, {"operation": "sync"})
    result = servicenow_poll(connector=connector, **options)
    summary = {key: value for key, value in result.as_dict().items() if key not in ("notes", "retry_after")}
    with transaction.atomic():
        audit_record(actor=actor, actor_label=actor_label, action="connector.synced", target=connector,
                     payload={"name": connector.name, **summary})
    return result
