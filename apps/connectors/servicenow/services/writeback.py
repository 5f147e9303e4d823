"""Writing a ticket's triage back to its ServiceNow incident: a governed action.

`writeback_request(actor, ticket, changes, version=...)` sets assignment group,
category, priority, impact, urgency and/or adds a work note on the incident the ticket
was imported from. In order:

1. the changes are checked (only those fields, values in range) and the idempotency
   key is made of ticket + action (fields and a digest of the values) + version (the
   `sys_mod_count` the decision was made on; by default the one last imported). The
   same write asked again returns the first one's record: a write is sent once;
2. `decide(actor, "connector.write", ticket, {"connector": name, ...})` first: a denial
   (or any error while deciding: fail-closed) records the write-back as `denied` and
   sends nothing. When the decision requires approval, the approver must be named
   (a person asking from the desk approves their own request; the system needs
   `approved_by`);
3. the connector's daily write cap (write-backs and undos sent today, UTC, plus those
   being sent) -> `capped`;
4. the incident is read (`sys_mod_count` and the current values): a record changed
   since the version decided on is a `conflict`: nothing is written, the conflict is
   recorded and audited;
5. dry-run connectors record the write as `dry_run` with the values before and after,
   and send nothing;
6. otherwise one `PATCH` with the idempotency key; the values before are stored for
   the undo. `sent`, or `failed` with the error (asking again retries it).

Every outcome appends one audit event (`servicenow.writeback_<status>`) in the
transaction that records it. The outside calls run between transactions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.policies.actions import Action
from apps.policies.services import decide
from apps.policies.subjects import KIND_USER, actor_kind, actor_label
from apps.tickets.models import Ticket

from ...choices import Status
from ...client import ConnectorError, WriteCapReached
from ...models import Connector
from .. import mapping
from ..client import TableApi
from ..models import IncidentLink, SyncState, WriteBack, WriteBackKind, WriteBackStatus
from ..selectors import link_for_ticket, sync_state_get

logger = logging.getLogger(__name__)

# A write still `pending` this long after its last change was interrupted (a worker
# died mid-way): asking again resumes it, after checking whether it landed.
STALE_PENDING = timedelta(minutes=5)
FINAL = frozenset({WriteBackStatus.SENT, WriteBackStatus.UNDONE, WriteBackStatus.CONFLICT})


@dataclass(frozen=True)
class _Plan:
    """One governed write to send: the row, where, what, and how to check first."""

    row: WriteBack
    connector: Connector
    link: IncidentLink | None
    changes: dict[str, str]
    undo_of: WriteBack | None = None


def _label(actor) -> str:
    return getattr(actor, "email", "") or actor_label(actor)


def _is_user(actor) -> bool:
    try:
        return actor_kind(actor) == KIND_USER
    except TypeError:
        return False


def _invalid(exc: mapping.WriteInvalid) -> ApplicationError:
    return ApplicationError(exc.message, errors={exc.field or "changes": [exc.message]})


def writeback_request(*, actor, ticket: Ticket, changes: dict[str, Any], version: int | None = None,
                      approved_by: str = "", actor_label_override: str = "", resolver=None,
                      sleep=None) -> WriteBack:
    """Write `changes` to the incident of `ticket` (see the module docstring). Returns
    the write-back record, whatever its outcome; raises ApplicationError for bad input
    (a ticket not imported from ServiceNow, a field that cannot be written)."""
    link = link_for_ticket(ticket_id=ticket.pk)  # with its connector, as it is now
    if link is None:
        raise ApplicationError(_("Ticket #%(number)s was not imported from ServiceNow.") % {"number": ticket.number})
    connector = link.connector
    if connector.status != Status.ACTIVE:
        raise ApplicationError(_("Connector %(name)s is disabled.") % {"name": connector.name})
    try:
        clean = mapping.clean_changes(changes)
    except mapping.WriteInvalid as exc:
        raise _invalid(exc) from None
    version = link.sys_mod_count if version is None else int(version)
    key = mapping.idempotency_key(connector_id=connector.pk, ticket_id=ticket.pk, changes=clean, version=version)
    plan = _govern(actor=actor, connector=connector, ticket=ticket, link=link, key=key, changes=clean, version=version,
                   approved_by=approved_by, label=actor_label_override or _label(actor), kind=WriteBackKind.WRITE,
                   operation="writeback")
    if plan is None:
        return WriteBack.objects.get(idempotency_key=key)
    return _execute(plan, resolver=resolver, sleep=sleep)


# --- Shared by writes and undos ----------------------------------------------------------------


def _govern(*, actor, connector: Connector, ticket: Ticket, link: IncidentLink | None, key: str,
            changes: dict[str, str], version: int, approved_by: str, label: str, kind: str, operation: str,
            undo_of: WriteBack | None = None, final: frozenset[str] = FINAL) -> _Plan | None:
    """Steps 1-3 in one transaction: the existing record (None: nothing to do), the
    policy decision, approval, the cap. Returns the plan to send, or None when the
    record is final (sent, denied, capped, a conflict, in flight)."""
    now = timezone.now()

    def settled(row: WriteBack | None) -> bool:
        return row is not None and (row.status in final or (row.status == WriteBackStatus.PENDING
                                                            and row.updated_at > now - STALE_PENDING))

    with transaction.atomic():
        if settled(WriteBack.objects.filter(idempotency_key=key).first()):
            return None  # sent once already, a conflict for this version, or being sent now
        context = {"connector": connector.name, "kind": connector.kind, "operation": operation,
                   "fields": sorted(changes)}
        decision = decide(actor, Action.CONNECTOR_WRITE, ticket, context)
        # One writer of this connector at a time from here to the commit: the key checked
        # again, the cap counted (the lock is taken after the decision, to hold it briefly).
        if SyncState.objects.select_for_update().filter(connector=connector).first() is None:
            SyncState.objects.select_for_update().get(pk=sync_state_get(connector).pk)
        row = WriteBack.objects.select_for_update().filter(idempotency_key=key).first()
        if settled(row):
            return None
        resuming = row is not None and row.status in (WriteBackStatus.PENDING, WriteBackStatus.FAILED)
        if row is None:
            row = WriteBack(connector=connector, ticket=ticket, sys_id=link.sys_id if link else undo_of.sys_id,
                            number=link.number if link else undo_of.number, kind=kind, undo_of=undo_of,
                            idempotency_key=key, new_values=changes, expected_mod_count=version, created_at=now)
        row.requested_by = actor if _is_user(actor) else None
        row.requested_by_label = label[:200]
        row.updated_at = now
        row.detail = ""
        if not decision.allowed:
            return _finish_now(row, WriteBackStatus.DENIED, "; ".join(decision.reasons) or "not allowed", actor, label)
        approver = approved_by or (label if _is_user(actor) else "")
        if decision.requires_approval and not approver:
            return _finish_now(row, WriteBackStatus.DENIED, "the policy requires an approval and none was given",
                               actor, label)
        row.approved_by_label = approver[:200]
        row.dry_run = connector.dry_run
        if not row.dry_run and not resuming and _writes_reserved(connector, now) >= connector.daily_write_cap:
            return _finish_now(row, WriteBackStatus.CAPPED,
                               f"the daily write cap ({connector.daily_write_cap}) is reached", actor, label)
        row.status = WriteBackStatus.PENDING
        row.save()
    return _Plan(row=row, connector=connector, link=link, changes=changes, undo_of=undo_of)


def _writes_reserved(connector: Connector, now) -> int:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return WriteBack.objects.filter(connector=connector, dry_run=False).filter(
        Q(sent_at__gte=start) | Q(status=WriteBackStatus.PENDING)).count()


def _finish_now(row: WriteBack, status: str, detail: str, actor, label: str) -> None:
    """Inside `_govern`'s transaction: record an outcome reached before any call."""
    row.status, row.detail = status, detail[:300]
    row.save()
    _audit(row, actor, label)
    return None


def _audit(row: WriteBack, actor, label: str) -> None:
    written = {k: v for k, v in row.new_values.items() if k not in mapping.JOURNAL}
    payload: dict[str, Any] = {
        "writeback_id": row.pk, "kind": row.kind, "connector_id": row.connector_id, "number": row.number,
        "sys_id": row.sys_id, "status": row.status, "fields": sorted(row.new_values), "values": written,
        "prior": row.prior_values, "version": row.expected_mod_count, "found": row.found_mod_count,
        "result": row.result_mod_count, "dry_run": row.dry_run, "detail": row.detail,
        "idempotency_key": row.idempotency_key, "approved_by": row.approved_by_label,
    }
    if "work_notes" in row.new_values:
        payload["text"] = row.new_values["work_notes"]  # a content key: digested in metadata-only tenants
    if row.undo_of_id:
        payload["undo_of"] = row.undo_of_id
    verb = "writeback" if row.kind == WriteBackKind.WRITE else "undo"
    audit_record(actor=actor if _is_user(actor) else None, actor_label=None if _is_user(actor) else label,
                 action=f"servicenow.{verb}_{row.status}", target=row.ticket, payload=payload)


def _save(plan: _Plan, status: str, *, actor=None, detail: str = "", **values) -> WriteBack:
    """Record the outcome of the call (steps 4-6), audited, in one transaction."""
    row = plan.row
    with transaction.atomic():
        row.status, row.detail, row.updated_at = status, detail[:300], timezone.now()
        for name, value in values.items():
            setattr(row, name, value)
        row.save()
        if status == WriteBackStatus.SENT:
            _after_sent(plan)
        _audit(row, actor, row.requested_by_label)
    return row


def _after_sent(plan: _Plan) -> None:
    """The link follows our own write (so the next write is decided on the new version and
    the poll does not read it as a change), and an undo marks its write-back undone."""
    row = plan.row
    link = plan.link
    if link is not None and row.result_mod_count is not None and row.found_mod_count is not None \
            and row.result_mod_count == row.found_mod_count + 1 and link.sys_mod_count == row.found_mod_count:
        # Only from the version the link holds: a link behind it is brought up by the poll.
        snapshot = dict(link.snapshot or {})
        for name in ("category", "impact", "urgency", "priority", "assignment_group"):
            if name in row.new_values:
                snapshot[name] = row.new_values[name]
        IncidentLink.objects.filter(pk=link.pk, sys_mod_count=row.found_mod_count).update(
            sys_mod_count=row.result_mod_count, snapshot=snapshot, updated_at=timezone.now())
    if plan.undo_of is not None:
        WriteBack.objects.filter(pk=plan.undo_of.pk).update(status=WriteBackStatus.UNDONE, undone_at=row.sent_at,
                                                            updated_at=timezone.now())


def _execute(plan: _Plan, *, resolver=None, sleep=None, check=None) -> WriteBack:
    """Steps 4-6: read, check, send (outside any transaction), record."""
    row = plan.row
    actor = row.requested_by
    options = {k: v for k, v in {"sleep": sleep, "resolver": resolver}.items() if v is not None}
    api = TableApi(plan.connector, **options)
    try:
        current = api.get("incident", row.sys_id, fields=mapping.read_fields(plan.changes), operation="writeback_check")
        found = int(str(current.get("sys_mod_count", "")))
    except ConnectorError as exc:
        return _save(plan, WriteBackStatus.FAILED, actor=actor, detail=f"reading the incident: {exc.message}")
    except ValueError:
        return _save(plan, WriteBackStatus.FAILED, actor=actor, detail="the incident has no sys_mod_count")
    prior = row.prior_values if row.prior_values else mapping.prior_values(current, plan.changes)
    problem = (check or _version_check)(plan, current, found)
    if problem is not None:
        status, detail = problem
        return _save(plan, status, actor=actor, detail=detail, found_mod_count=found, prior_values=prior,
                     **({"sent_at": timezone.now(), "result_mod_count": found} if status == WriteBackStatus.SENT else {}))
    if row.dry_run:
        return _save(plan, WriteBackStatus.DRY_RUN, actor=actor, detail="dry run: recorded, not sent",
                     found_mod_count=found, prior_values=prior)
    WriteBack.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)  # before sending: a resumed write knows
    row.attempts += 1
    try:
        after, dry = api.patch("incident", row.sys_id, plan.changes, fields=("sys_id", "sys_mod_count"),
                               idempotency_key=row.idempotency_key,
                               operation="writeback" if row.kind == WriteBackKind.WRITE else "undo")
    except WriteCapReached as exc:
        return _save(plan, WriteBackStatus.CAPPED, actor=actor, detail=exc.message, found_mod_count=found,
                     prior_values=prior)
    except ConnectorError as exc:
        return _save(plan, WriteBackStatus.FAILED, actor=actor, detail=exc.message, found_mod_count=found,
                     prior_values=prior)
    if dry:  # switched to dry run since the decision
        return _save(plan, WriteBackStatus.DRY_RUN, actor=actor, detail="dry run: recorded, not sent",
                     found_mod_count=found, prior_values=prior, dry_run=True)
    try:
        result = int(str((after or {}).get("sys_mod_count", "")))
    except ValueError:
        result = None
    detail = ""
    if result is not None and result != found + 1:
        detail = (f"another change landed between the check and the write (sys_mod_count {found} -> {result}); "
                  "review the incident")
    return _save(plan, WriteBackStatus.SENT, actor=actor, detail=detail, found_mod_count=found, prior_values=prior,
                 result_mod_count=result, sent_at=timezone.now())


def _version_check(plan: _Plan, current: dict, found: int) -> tuple[str, str] | None:
    """A write decided on `expected_mod_count`: the record must still be at it. A resumed
    write whose PATCH did land (one more change, our values in place) is `sent`."""
    row = plan.row
    if found == row.expected_mod_count:
        return None
    written = {k: v for k, v in plan.changes.items() if k not in mapping.JOURNAL}
    if found == row.expected_mod_count + 1 and written and row.attempts > 0 \
            and not mapping.fields_changed_since(current, written):
        return WriteBackStatus.SENT, "sent by an earlier attempt (found in place)"
    return WriteBackStatus.CONFLICT, (f"the incident changed in ServiceNow (sys_mod_count {found}, decided on "
                                      f"{row.expected_mod_count}); nothing was written")
