"""Opening and changing many tickets at once from an outside system (a connector's sync).

`ticket_import_many` is `ticket_create` for a batch, set-based: one policy decision for
the batch (`ticket.create`, context `bulk`), the numbers taken in one statement, the rows
with their search vectors in one INSERT (fed by COPY), one audit event `ticket.imported`
naming every number, and one domain event `ticket.imported` with the ids (SLA clocks are
attached for the whole batch by the SLA app's handler of that event). All in the
caller's transaction. Each row says its own status and times (an incident imported
already resolved stays resolved), which `ticket_create` never does: only the system and
agents import.

`ticket_sync_many` is `ticket_update` + `ticket_assign` for a batch of changes made in
the outside system (impact, urgency and so priority, category, team): one decision per
action (`ticket.update`, and `ticket.assign` when a team changes), the rows locked in one
statement and written in one, one audit event `ticket.synced` with every change (from,
to), one domain event `ticket.synced`; the SLA app re-targets the clocks of the batch
after commit (its bulk path, as after a category merge). Closed and cancelled tickets
are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts import permissions
from apps.accounts.models import Team, TeamMembership, User
from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, PermissionDenied
from apps.events.services.emit import emit
from apps.policies.services import policy_require

from .. import events as ev
from .. import workflow
from ..actions import TICKET_UPDATE
from ..choices import Level, ResolutionCode, TicketSource, TicketStatus
from ..markdown import render_markdown
from ..models import Category, Ticket
from ..priority import priority_for
from ..search import CONFIG, LEARN_TICKETS_TEXT_SQL, learn_params
from ..selectors import priority_matrix_get, routing_for
from .common import TICKET_ASSIGN, TICKET_CREATE, UNSET, clean_level, clean_markdown, clean_title

MAX_BATCH = 1000


@dataclass(frozen=True)
class ImportRow:
    """One ticket to open. `team_id` None: routed as `ticket_create` routes."""

    title: str
    requester_id: int
    description: str = ""
    impact: int = Level.MEDIUM
    urgency: int = Level.MEDIUM
    status: str = TicketStatus.NEW
    category_id: int | None = None
    team_id: int | None = None
    created_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution_code: str = ""
    resolution_note: str = ""


def _take_numbers(count: int) -> list[int]:
    """`count` consecutive ticket numbers (the counter row is locked until commit)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tickets_ticketcounter SET last_number = last_number + %s WHERE singleton "
                       "RETURNING last_number", [count])
        row = cursor.fetchone()
        if row is None:  # a schema created without the data migration
            cursor.execute(
                "INSERT INTO tickets_ticketcounter (singleton, last_number) "
                "SELECT true, coalesce(max(number), 0) FROM tickets_ticket ON CONFLICT (singleton) DO NOTHING"
            )
            cursor.execute("UPDATE tickets_ticketcounter SET last_number = last_number + %s WHERE singleton "
                           "RETURNING last_number", [count])
            row = cursor.fetchone()
    last = int(row[0])
    return list(range(last - count + 1, last + 1))


_VECTOR_FIELDS = ("search_vector", "search_vector_all")
_INSERT = """
INSERT INTO {table} ({columns}, search_vector, search_vector_all)
SELECT {columns}, v.words, v.words FROM {stage} s, LATERAL (
  SELECT setweight(to_tsvector(%(cfg)s::regconfig, coalesce(s.title, '')), 'A')
      || setweight(to_tsvector(%(cfg)s::regconfig, coalesce(s.description, '')), 'B')
      || setweight(to_tsvector(%(cfg)s::regconfig, coalesce(s.resolution_note, '')), 'D') AS words
) v ORDER BY s.number
RETURNING id, number
"""


def _insert(tickets: list[Ticket]) -> None:
    """The rows in one INSERT with their search vectors (as `search_refresh` computes them
    for a ticket without comments), fed by a binary COPY into a staging table: a batch
    costs a few statements, not a parameter per column and row. Sets each ticket's pk."""
    fields = [f for f in Ticket._meta.concrete_fields if not f.primary_key and f.name not in _VECTOR_FIELDS]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    table = quote(Ticket._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE ticket_import_stage ON COMMIT DROP AS SELECT {columns} FROM {table} "
                       "WITH NO DATA")
        cursor.execute("SELECT atttypid::int FROM pg_attribute WHERE attrelid = 'ticket_import_stage'::regclass "
                       "AND attnum > 0 AND NOT attisdropped ORDER BY attnum")
        types = [row[0] for row in cursor.fetchall()]
        with cursor.copy(f"COPY ticket_import_stage ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for ticket in tickets:
                copy.write_row([getattr(ticket, f.attname) for f in fields])
        cursor.execute(_INSERT.format(table=table, columns=columns, stage="ticket_import_stage"), {"cfg": CONFIG})
        ids = dict((number, pk) for pk, number in cursor.fetchall())
        cursor.execute("DROP TABLE ticket_import_stage")
    for ticket in tickets:
        ticket.pk = ids[ticket.number]
        ticket._state.adding, ticket._state.db = False, connection.alias
        for name in _VECTOR_FIELDS:
            ticket.__dict__.pop(name, None)  # deferred: loaded if ever read


def _invalid(index: int, field: str, message: str) -> ApplicationError:
    return ApplicationError(_("Row %(row)d: %(message)s") % {"row": index + 1, "message": message},
                            errors={field: [message]})


@transaction.atomic
def ticket_import_many(*, actor, rows: Sequence[ImportRow], source: str, origin: str = "") -> list[Ticket]:
    """Open a ticket per row; returns them (saved, in row order). `origin` names where
    they come from (a connector's name) in the audit event. Nothing is written unless
    every row is valid."""
    if not rows:
        return []
    if len(rows) > MAX_BATCH:
        raise ApplicationError(_("Import at most %(max)d tickets at once.") % {"max": MAX_BATCH})
    policy_context = {"source": source, "bulk": True, "count": len(rows), "on_behalf": True}
    policy_require(actor, TICKET_CREATE, {"type": "tickets.ticket", "source": source, "count": len(rows)},
                   policy_context)
    if actor is not None and not permissions.is_agent(actor):
        raise PermissionDenied(_("Only agents and the system import tickets."))
    if source not in TicketSource.values:
        raise ApplicationError(_("Unknown source %(source)r.") % {"source": source})
    requester_ids = {row.requester_id for row in rows}
    active = set(User.objects.filter(pk__in=requester_ids, is_active=True).values_list("pk", flat=True))
    category_ids = {row.category_id for row in rows if row.category_id is not None}
    categories = set(Category.objects.filter(pk__in=category_ids, archived=False).values_list("pk", flat=True))
    team_ids = {row.team_id for row in rows if row.team_id is not None}
    teams = set(Team.objects.filter(pk__in=team_ids).values_list("pk", flat=True))
    matrix = priority_matrix_get()
    routed: dict[int | None, int | None] = {}
    now = timezone.now()
    tickets: list[Ticket] = []
    for index, row in enumerate(rows):
        if row.requester_id not in active:
            raise _invalid(index, "requester", _("Unknown or inactive user."))
        if row.category_id is not None and row.category_id not in categories:
            raise _invalid(index, "category", _("Unknown or archived category."))
        if row.team_id is not None and row.team_id not in teams:
            raise _invalid(index, "team", _("Unknown team."))
        if row.status not in TicketStatus.values:
            raise _invalid(index, "status", _("Unknown status %(status)r.") % {"status": row.status})
        done = row.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
        if done and row.resolution_code not in ResolutionCode.values:
            raise _invalid(index, "resolution_code", _("A resolved or closed ticket needs a resolution code."))
        title = clean_title(row.title)
        description = clean_markdown(row.description, field="description", label=_("The description"))
        impact, urgency = clean_level(row.impact, "impact"), clean_level(row.urgency, "urgency")
        team_id = row.team_id
        if team_id is None:
            if row.category_id not in routed:
                routed[row.category_id] = routing_for(category_id=row.category_id)[0]
            team_id = routed[row.category_id]
        created = row.created_at or now
        note = clean_markdown(row.resolution_note, field="resolution_note", label=_("A resolution note")) if done else ""
        tickets.append(Ticket(
            title=title, description=description, description_html=render_markdown(description) if description else "",
            requester_id=row.requester_id, category_id=row.category_id, team_id=team_id, impact=impact,
            urgency=urgency, priority=priority_for(impact, urgency, matrix), status=row.status, source=source,
            resolution_code=row.resolution_code if done else "", resolution_note=note,
            resolved_at=(row.resolved_at or created) if done else None,
            closed_at=(row.closed_at or row.resolved_at or created) if row.status == TicketStatus.CLOSED else None,
            created_at=created, updated_at=now,
        ))
    for ticket, number in zip(tickets, _take_numbers(len(tickets)), strict=True):
        ticket.number = number
    _insert(tickets)
    ids = [ticket.pk for ticket in tickets]
    with connection.cursor() as cursor:
        cursor.execute(LEARN_TICKETS_TEXT_SQL, learn_params(ids=ids))  # their words (not identifiers) into the list
    for ticket in tickets:
        ticket.tag_names = []  # as the selectors annotate it
    payload: dict[str, Any] = {"source": source, "origin": origin, "count": len(tickets),
                               "numbers": [ticket.number for ticket in tickets]}
    audit_record(actor=actor, action="ticket.imported", target=None, payload=payload)
    emit(ev.TicketsImported(ticket_ids=ids, source=source), actor=actor, instances=tickets)
    return tickets


# --- Changes from the outside system -------------------------------------------------------------


@dataclass(frozen=True)
class SyncChange:
    """What changed for one ticket; UNSET: not this field."""

    ticket_id: int
    impact: Any = UNSET
    urgency: Any = UNSET
    category_id: Any = UNSET
    team_id: Any = UNSET


@dataclass(frozen=True)
class SyncOutcome:
    changed: list[int]  # ticket ids written
    unchanged: list[int]  # already so
    closed: list[int]  # closed or cancelled: left alone


_SYNC_UPDATE = """
UPDATE tickets_ticket AS t SET impact = v.impact, urgency = v.urgency, priority = v.priority,
       category_id = v.category_id, team_id = v.team_id, assignee_id = v.assignee_id, updated_at = %s
FROM unnest(%s::bigint[], %s::smallint[], %s::smallint[], %s::varchar[], %s::bigint[], %s::bigint[], %s::bigint[])
     AS v(id, impact, urgency, priority, category_id, team_id, assignee_id)
WHERE t.id = v.id
"""


@transaction.atomic
def ticket_sync_many(*, actor, changes: Sequence[SyncChange], source: str, origin: str = "") -> SyncOutcome:
    """Apply a batch of outside changes (see the module docstring). Nothing is written
    unless every change is valid."""
    if not changes:
        return SyncOutcome([], [], [])
    if len(changes) > MAX_BATCH:
        raise ApplicationError(_("Sync at most %(max)d tickets at once.") % {"max": MAX_BATCH})
    resource = {"type": "tickets.ticket", "source": source, "count": len(changes)}
    policy_require(actor, TICKET_UPDATE, resource, {"source": source, "bulk": True})
    if any(change.team_id is not UNSET for change in changes):
        policy_require(actor, TICKET_ASSIGN, resource, {"source": source, "bulk": True})
    if actor is not None and not permissions.is_agent(actor):
        raise PermissionDenied(_("Only agents and the system sync tickets."))
    category_ids = {c.category_id for c in changes if c.category_id not in (UNSET, None)}
    if category_ids - set(Category.objects.filter(pk__in=category_ids, archived=False).values_list("pk", flat=True)):
        raise ApplicationError(_("Unknown or archived category."), errors={"category": [_("Unknown or archived.")]})
    team_ids = {c.team_id for c in changes if c.team_id not in (UNSET, None)}
    if team_ids - set(Team.objects.filter(pk__in=team_ids).values_list("pk", flat=True)):
        raise ApplicationError(_("Unknown team."), errors={"team": [_("Unknown team.")]})
    for change in changes:
        for name in ("impact", "urgency"):
            if getattr(change, name) is not UNSET:
                clean_level(getattr(change, name), name)
    tickets = {t.pk: t for t in Ticket.objects.select_for_update(of=("self",), no_key=True)
               .filter(pk__in=[c.ticket_id for c in changes]).order_by("pk")
               .only("id", "number", "status", "impact", "urgency", "priority", "category_id", "team_id", "assignee_id")}
    members = set(TeamMembership.objects.filter(team_id__in=team_ids).values_list("team_id", "user_id")) if team_ids else set()
    matrix = priority_matrix_get()
    rows, audit, fields, unchanged, closed = [], [], set(), [], []
    for change in changes:
        ticket = tickets.get(change.ticket_id)
        if ticket is None:
            raise ApplicationError(_("Unknown ticket %(id)s.") % {"id": change.ticket_id})
        if ticket.status in workflow.TERMINAL:
            closed.append(ticket.pk)
            continue
        before = {"impact": ticket.impact, "urgency": ticket.urgency, "priority": ticket.priority,
                  "category": ticket.category_id, "team": ticket.team_id, "assignee": ticket.assignee_id}
        impact = ticket.impact if change.impact is UNSET else int(change.impact)
        urgency = ticket.urgency if change.urgency is UNSET else int(change.urgency)
        after = {"impact": impact, "urgency": urgency, "priority": priority_for(impact, urgency, matrix),
                 "category": ticket.category_id if change.category_id is UNSET else change.category_id,
                 "team": ticket.team_id if change.team_id is UNSET else change.team_id,
                 "assignee": ticket.assignee_id}
        if after["team"] != before["team"] and after["assignee"] is not None and after["team"] is not None \
                and (after["team"], after["assignee"]) not in members:
            after["assignee"] = None  # as ticket_assign: a new team drops an assignee who is not in it
        diff = {name: {"from": before[name], "to": after[name]} for name in before if before[name] != after[name]}
        if not diff:
            unchanged.append(ticket.pk)
            continue
        fields.update(diff)
        rows.append((ticket.pk, after))
        audit.append({"number": ticket.number, **diff})
    if rows:
        with connection.cursor() as cursor:
            cursor.execute(_SYNC_UPDATE, [
                timezone.now(), [pk for pk, _ in rows], [a["impact"] for _, a in rows], [a["urgency"] for _, a in rows],
                [a["priority"] for _, a in rows], [a["category"] for _, a in rows], [a["team"] for _, a in rows],
                [a["assignee"] for _, a in rows],
            ])
        audit_record(actor=actor, action="ticket.synced", target=None,
                     payload={"source": source, "origin": origin, "count": len(rows), "tickets": audit})
        emit(ev.TicketsSynced(ticket_ids=[pk for pk, _ in rows], fields=sorted(fields), source=source), actor=actor)
    return SyncOutcome(changed=[pk for pk, _ in rows], unchanged=unchanged, closed=closed)
