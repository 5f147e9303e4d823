"""Lock order between ticket writes, the sweep and event processing (committed data, one
real connection per thread).

A ticket write locks the ticket row, then the ticket's clocks (`sla_sync`). The sweep
locks clocks, then inserts events whose foreign key to the ticket makes PostgreSQL take
FOR KEY SHARE on the ticket row. Event processing runs escalation steps that write the
ticket. Each test holds a ticket write open between its two lock steps while the other
side runs, then lets the write finish: with the old lock modes (plain FOR UPDATE on the
ticket; processing locking clocks before tickets) PostgreSQL reports a deadlock and
one transaction is lost.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from apps.sla import services
from apps.sla.choices import EscalationOutcome
from apps.sla.models import SlaClock, SlaEscalation, SlaEvent

from .factories import make_calendar, make_policy, make_ticket

M = timedelta(minutes=1)


def _setup(*, escalations=()):
    """One open ticket whose clocks passed every threshold (24x7, P3: first response 30
    min, resolution 120 min, opened 200 min ago): 8 events are due."""
    from apps.accounts.models import Role, Team, User
    from apps.accounts.services import team_create, user_create

    with transaction.atomic():
        requester = User.objects.get(role=Role.ADMIN)
        agent = user_create(email="agent@locks.test", role=Role.AGENT, password=None, validate=False)
        night = team_create(name="Night", actor=None)
        calendar = make_calendar(name="Always")
        make_policy(
            calendar=calendar,
            targets={"P3": {"first_response": 30, "resolution": 120}},
            escalations=[{**s, "team": night if s.get("action") == "reassign_team" else None} for s in escalations],
        )
        ticket = make_ticket(
            requester=requester, created_at=timezone.now() - 200 * M, status="open", assignee=agent, impact=2, urgency=2
        )
        services.sla_on_ticket_created(ticket)
    assert Team.objects.filter(name="Night").exists()
    return agent, ticket, night


def _pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _waits_on_a_lock(pid: int) -> bool:
    """Whether backend `pid` is blocked on a row or transaction lock right now (the
    caller's connection is in autocommit, so each query sees a fresh snapshot)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row) and row[0] == "Lock"


class _Thread(threading.Thread):
    """Runs `target` in the tenant on its own connection; keeps the result or error."""

    def __init__(self, tenant, target):
        super().__init__(daemon=True)
        self.tenant, self.target = tenant, target
        self.result = self.error = self.pid = None

    def run(self):
        try:
            connection.set_tenant(self.tenant)
            self.pid = _pid()
            self.result = self.target()
        except BaseException as exc:  # noqa: BLE001  (re-raised by the test)
            self.error = exc
        finally:
            connections.close_all()


def _until_done_or_blocked(thread: _Thread, seconds: float = 10) -> bool:
    """Wait until `thread` finished (True) or is blocked on a lock (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not thread.is_alive():
            return True
        if thread.pid is not None and _waits_on_a_lock(thread.pid):
            return False
        time.sleep(0.02)
    raise AssertionError("the thread neither finished nor blocked")


def _writer(agent, ticket, locked: threading.Event, go: threading.Event, hold: str):
    """A ticket write that locks the ticket, waits for `go`, then changes its status
    (which re-syncs, so locks, the clocks)."""
    from apps.tickets.selectors import ticket_get_visible
    from apps.tickets.services import ticket_transition, ticket_update

    def run():
        with transaction.atomic():
            if hold == "selector":
                current = ticket_get_visible(actor=agent, number=ticket.number, for_update=True)
            else:  # a first change through a service, which locks the row itself
                current = ticket_update(actor=agent, ticket=ticket, title="Printer on fire")
            locked.set()
            assert go.wait(30)
            ticket_transition(actor=agent, ticket=current, to="pending", reason="Waiting for the requester")
        return "written"

    return run


@pytest.mark.django_db
def test_ticket_locks_leave_key_share_free(tenant, agent_user, requester_user):
    """Ticket writes lock FOR NO KEY UPDATE, which does not conflict with the FOR KEY
    SHARE of a foreign-key check. (Also makes selecting this module alone create the
    test database, which `fresh_tenant` alone does not.)"""
    from django.test.utils import CaptureQueriesContext

    from apps.tickets.selectors import ticket_get_visible
    from apps.tickets.services import ticket_update

    ticket = make_ticket(requester=requester_user)
    with CaptureQueriesContext(connection) as queries:
        ticket_get_visible(actor=agent_user, number=ticket.number, for_update=True)
        ticket_update(actor=agent_user, ticket=ticket, title="Locked politely")
    locks = [q["sql"] for q in queries.captured_queries if " FOR " in q["sql"] and "tickets_ticket" in q["sql"]]
    assert len(locks) == 2
    assert all("FOR NO KEY UPDATE" in sql for sql in locks), locks


def test_no_code_locks_a_ticket_row_for_update():
    """A lint in the spirit of the grep checks (STYLE.md): every row lock that covers a
    ticket (a Ticket queryset, or another model's joined "ticket") says no_key=True."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "apps"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "select_for_update(" not in line:
                continue
            covers_ticket = "Ticket.objects" in line or 'select_related("ticket")' in line
            if covers_ticket and "no_key=True" not in line:
                offenders.append(f"{path.relative_to(root.parent)}:{number}: {line.strip()}")
    assert offenders == []
    assert (root / "tickets" / "services" / "common.py").read_text().count("no_key=True") >= 1  # the check sees real code
    assert (root / "sla" / "services" / "escalations.py").read_text().count("no_key=True") >= 2


@pytest.mark.parametrize("hold", ["service", "selector"])
def test_the_sweep_never_waits_for_a_ticket_write_and_neither_deadlocks(fresh_tenant, hold):
    agent, ticket, _ = _setup()
    locked, go = threading.Event(), threading.Event()
    writer = _Thread(fresh_tenant, _writer(agent, ticket, locked, go, hold))
    writer.start()
    assert locked.wait(30), writer.error
    sweep = _Thread(fresh_tenant, lambda: services.sla_sweep(enqueue=False))
    sweep.start()
    finished_while_locked = _until_done_or_blocked(sweep)
    go.set()
    writer.join(30)
    sweep.join(30)
    assert writer.error is None, f"the ticket write failed: {writer.error!r}"
    assert sweep.error is None, f"the sweep failed: {sweep.error!r}"
    # The event rows' key-share check on the ticket does not wait for the writer's lock.
    assert finished_while_locked
    assert sweep.result.events == 8
    ticket.refresh_from_db()
    assert (ticket.status, ticket.title) == ("pending", "Printer on fire" if hold == "service" else ticket.title)
    assert SlaEvent.objects.filter(ticket=ticket).count() == 8
    resolution = SlaClock.objects.get(ticket=ticket, metric="resolution")
    assert resolution.paused_at is not None  # the write's clock sync ran after the sweep


def test_event_processing_skips_a_ticket_being_written_then_escalates_it_once(fresh_tenant):
    agent, ticket, night = _setup(escalations=[{"at_percent": 100, "action": "reassign_team", "metric": "resolution"}])
    assert services.sla_sweep(enqueue=False).events == 8
    locked, go = threading.Event(), threading.Event()
    writer = _Thread(fresh_tenant, _writer(agent, ticket, locked, go, "service"))
    writer.start()
    assert locked.wait(30), writer.error
    processor = _Thread(fresh_tenant, lambda: services.sla_events_process())
    processor.start()
    finished_while_locked = _until_done_or_blocked(processor)
    go.set()
    writer.join(30)
    processor.join(30)
    assert writer.error is None, f"the ticket write failed: {writer.error!r}"
    assert processor.error is None, f"event processing failed: {processor.error!r}"
    # Processing takes the ticket before its clocks and skips a ticket someone holds.
    assert finished_while_locked
    assert processor.result == 0
    assert SlaEvent.objects.filter(processed_at__isnull=True).count() == 8
    # The next run (the sweep re-enqueues a backlog) does the work, once.
    assert services.sla_events_process() == 8
    assert services.sla_events_process() == 0
    runs = list(SlaEscalation.objects.values_list("action", "outcome"))
    assert runs == [("reassign_team", EscalationOutcome.DONE)]
    ticket.refresh_from_db()
    assert (ticket.status, ticket.title, ticket.team_id) == ("pending", "Printer on fire", night.pk)
