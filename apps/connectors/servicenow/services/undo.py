"""Undoing a write-back (from the desk, the API or `connector_undo`), within a window.

`writeback_undo(actor, writeback, reason)` writes the fields back to the values they had
before the write-back (stored with it) and, for a work note (a journal entry cannot be
removed), adds a compensating work note saying that the earlier one was undone. It is a
governed write like the write-back itself (writeback.py): `decide()` first (fail-closed,
approval), the daily cap, an idempotency key (one undo per write-back), dry run, an
audit event. It is refused after WARDEN_SERVICENOW_UNDO_HOURS, and it is a `conflict`
(nothing written) when someone changed one of the written fields in ServiceNow since:
an undo never overwrites another person's change. Once sent, the write-back is `undone`.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError, Conflict

from ...choices import Status
from ...models import Connector
from .. import conf, mapping
from ..models import WriteBack, WriteBackKind, WriteBackStatus
from ..selectors import link_for_ticket
from .writeback import _execute, _govern, _label, _Plan


def undo_window() -> timedelta:
    return timedelta(hours=float(conf.get("WARDEN_SERVICENOW_UNDO_HOURS")))


def undo_deadline(writeback: WriteBack):
    return writeback.sent_at + undo_window() if writeback.sent_at else None


def writeback_undo(*, actor, writeback: WriteBack, reason: str, approved_by: str = "", actor_label_override: str = "",
                   resolver=None, sleep=None) -> WriteBack:
    """Revert `writeback`; returns the undo's record (`sent`, `dry_run`, `conflict`,
    `denied`, `capped` or `failed`). ApplicationError when it cannot be undone at all."""
    reason = " ".join((reason or "").split())[:300]
    if not reason:
        raise ApplicationError(_("Say why the write-back is undone."), errors={"reason": [_("This field is required.")]})
    writeback = WriteBack.objects.select_related("connector", "ticket").get(pk=writeback.pk)
    if writeback.kind != WriteBackKind.WRITE:
        raise ApplicationError(_("An undo cannot be undone; make a new write-back instead."))
    if writeback.status == WriteBackStatus.UNDONE:
        undo = WriteBack.objects.filter(undo_of=writeback).order_by("-pk").first()
        if undo is not None:
            return undo
    if writeback.status != WriteBackStatus.SENT:
        raise Conflict(_("Write-back #%(id)s is %(status)s: only a sent write-back can be undone.") % {
            "id": writeback.pk, "status": writeback.get_status_display()})
    deadline = undo_deadline(writeback)
    if deadline is None or timezone.now() > deadline:
        raise Conflict(_("Write-back #%(id)s was sent more than %(hours)s h ago; it can no longer be undone here.") % {
            "id": writeback.pk, "hours": conf.get("WARDEN_SERVICENOW_UNDO_HOURS")})
    connector = Connector.objects.get(pk=writeback.connector_id)
    if connector.status != Status.ACTIVE:
        raise ApplicationError(_("Connector %(name)s is disabled.") % {"name": connector.name})
    changes = mapping.undo_changes(writeback_id=writeback.pk, number=writeback.number,
                                   prior=writeback.prior_values, written=writeback.new_values, reason=reason)
    key = f"servicenow:{connector.pk}:undo-of-{writeback.pk}"
    link = link_for_ticket(ticket_id=writeback.ticket_id)
    plan = _govern(actor=actor, connector=connector, ticket=writeback.ticket, link=link, key=key, changes=changes,
                   version=writeback.result_mod_count or writeback.expected_mod_count, approved_by=approved_by,
                   label=actor_label_override or _label(actor), kind=WriteBackKind.UNDO, operation="undo",
                   undo_of=writeback, final=frozenset({WriteBackStatus.SENT}))
    if plan is None:
        return WriteBack.objects.get(idempotency_key=key)
    plan = _Plan(row=plan.row, connector=plan.connector, link=plan.link, changes=changes, undo_of=writeback)
    return _execute(plan, resolver=resolver, sleep=sleep, check=_unchanged_since(writeback))


def _unchanged_since(writeback: WriteBack):
    written = {k: v for k, v in writeback.new_values.items() if k not in mapping.JOURNAL}

    def check(plan, current, found):
        restored = {k: v for k, v in plan.changes.items() if k not in mapping.JOURNAL}
        if restored and plan.row.attempts > 0 and not mapping.fields_changed_since(current, restored):
            return WriteBackStatus.SENT, "sent by an earlier attempt (found in place)"
        changed = mapping.fields_changed_since(current, written)
        if changed:
            return WriteBackStatus.CONFLICT, (f"changed in ServiceNow since the write-back: {', '.join(changed)}; "
                                              "nothing was written")
        return None

    return check
