"""Auto-close: resolved tickets close by themselves some days after resolution.

The number of days is the tenant's help-desk setting (`DeskSettings.auto_close_days`,
default 7, 0 = never). Beat sends `tickets.autoclose` to every tenant (hourly, the
`tickets-autoclose` periodic entry); the task calls `ticket_autoclose`, which closes the
due tickets one by one through `ticket_transition` as the system (policy-checked,
audited with the reason, `ticket.closed` with `automatic`), oldest resolution first, each
in a transaction of its own, in batches, for at most a time budget: with more left it
hands over to a fresh task with a cursor, so no task nears the Celery time limit whatever
the backlog. Running twice closes nothing twice: a ticket is re-read under its lock and
closed only if it is still resolved since before the cutoff.
"""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.policies.services import PolicyDenied, policy_denial_persist

from .. import conf
from ..choices import TicketStatus
from ..models import Ticket
from ..selectors import desk_settings_get
from .tickets import ticket_transition

logger = logging.getLogger(__name__)

Cursor = tuple[str, int]  # (resolved_at as ISO 8601, ticket id) of the last ticket looked at


@dataclass
class AutoCloseResult:
    closed: int = 0
    skipped: int = 0  # reopened, closed or locked by someone else meanwhile
    failed: int = 0  # refused (a policy, a rule): left resolved, tried again on the next run
    batches: int = 0
    more: bool = False  # the budget ran out with tickets still due: continue from `after`
    after: Cursor | None = None
    seconds: float = 0.0


def autoclose_reason(days: int) -> str:
    return f"Closed automatically {days} day{'s' if days != 1 else ''} after resolution."


def ticket_autoclose(
    *,
    now: datetime | None = None,
    batch: int | None = None,
    budget_seconds: float | None = None,
    after: Cursor | None = None,
    max_failures: int | None = None,
) -> AutoCloseResult:
    """Close every ticket resolved at least `auto_close_days` before `now` (as the system).

    Works in batches of `batch` (WARDEN_TICKETS_AUTOCLOSE_BATCH) for at most
    `budget_seconds` (WARDEN_TICKETS_AUTOCLOSE_BUDGET_SECONDS), starting after the cursor
    `after`; `result.more` and `result.after` say where a next run goes on. A run stops
    after `max_failures` refusals (WARDEN_TICKETS_AUTOCLOSE_MAX_FAILURES; the hourly run
    tries them again), so a policy that forbids the system to close tickets costs a few
    denials an hour, not one per resolved ticket.
    """
    started = _time.perf_counter()
    result = AutoCloseResult(after=after)
    days = int(desk_settings_get().auto_close_days)
    if days <= 0:
        return result
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    batch = int(batch or conf.get("WARDEN_TICKETS_AUTOCLOSE_BATCH"))
    budget = float(budget_seconds if budget_seconds is not None else conf.get("WARDEN_TICKETS_AUTOCLOSE_BUDGET_SECONDS"))
    max_failures = int(max_failures if max_failures is not None else conf.get("WARDEN_TICKETS_AUTOCLOSE_MAX_FAILURES"))
    cursor = (datetime.fromisoformat(after[0]), int(after[1])) if after else None
    while True:
        due = Ticket.objects.filter(status=TicketStatus.RESOLVED, resolved_at__lte=cutoff)
        if cursor is not None:
            due = due.filter(Q(resolved_at__gt=cursor[0]) | Q(resolved_at=cursor[0], pk__gt=cursor[1]))
        rows = list(due.order_by("resolved_at", "pk").values_list("pk", "resolved_at")[:batch])
        for pk, resolved_at in rows:
            try:
                if autoclose_one(ticket_id=pk, cutoff=cutoff, days=days):
                    result.closed += 1
                else:
                    result.skipped += 1
            except ApplicationError as exc:  # PolicyDenied, a workflow or text rule: leave it resolved
                result.failed += 1
                logger.warning("auto-close of ticket id %s refused: %s", pk, exc.message)
                if isinstance(exc, PolicyDenied):
                    policy_denial_persist(exc)  # the denial was rolled back with the ticket's transaction
            cursor = (resolved_at, pk)
        result.batches += 1
        if len(rows) < batch:
            break
        if result.failed >= max_failures:
            logger.warning("auto-close stopped after %d refusals; the next run tries again", result.failed)
            break
        if _time.perf_counter() - started >= budget:
            result.more = True
            break
    result.after = (cursor[0].isoformat(), cursor[1]) if cursor is not None else after
    result.seconds = _time.perf_counter() - started
    return result


@transaction.atomic
def autoclose_one(*, ticket_id: int, cutoff: datetime, days: int) -> bool:
    """Close one ticket if it is still resolved since `cutoff` or before; False if it is
    not (any more), or if another transaction holds it right now (the next run sees it)."""
    ticket = (
        Ticket.objects.select_for_update(of=("self",), no_key=True, skip_locked=True)
        .filter(pk=ticket_id, status=TicketStatus.RESOLVED, resolved_at__lte=cutoff)
        .first()
    )
    if ticket is None:
        return False
    ticket_transition(actor=None, ticket=ticket, to=TicketStatus.CLOSED, reason=autoclose_reason(days), automatic=True)
    return True
