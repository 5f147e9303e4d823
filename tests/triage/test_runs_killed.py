"""A run killed mid-step resumes and writes once: a real process runs the triage run's
write-back step against the fake ServiceNow (real HTTP on 127.0.0.1), is SIGKILLed while
its PATCH is in flight (the fake holds the answer; the write lands after the process is
gone), and the sweep takes the step over: it finds the write in place and records it,
without a second PATCH."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from fakes.servicenow import FakeServiceNow, Fault
from tests.workers import ROOT, wait

pytestmark = pytest.mark.slow
SECRET = "s3cr3t-kill-test-token"

ADVANCE = """
import sys, django
django.setup()
from django_tenants.utils import schema_context
from apps.triage.services.runs import run_advance
with schema_context(sys.argv[1]):
    run_advance(run_id=int(sys.argv[2]))
"""


def _patches(fake) -> int:
    return sum(1 for r in fake.requests if r.method == "PATCH")


def test_a_run_killed_during_its_write_back_resumes_and_writes_once(fresh_tenant, settings, tmp_path):
    from apps.accounts.models import Role, User
    from apps.connectors.servicenow.models import IncidentLink, WriteBack
    from apps.connectors.servicenow.services import servicenow_poll
    from apps.connectors.services.connectors import connector_create
    from apps.events.services.relay import relay_run
    from apps.triage import services
    from apps.triage.models import Proposal, Rule, Run
    from apps.triage.services.runs import run_resume_for_proposal, run_sweep

    settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK = True
    admin = User.objects.get(role=Role.ADMIN)
    with FakeServiceNow(token=SECRET) as snow:
        connector = connector_create(actor=admin, kind="servicenow", name="snow", base_url=snow.url, secret=SECRET,
                                     dry_run=False)
        services.rule_save(actor=admin, rule=Rule(name="Incidents", source="servicenow", set_urgency=1,
                                                  work_note="Urgent: routed by triage.", confidence=Decimal("0.9")))
        [sys_id] = snow.seed(1, state="2", impact="2", urgency="2", groups=("Service Desk",))
        servicenow_poll(connector=connector, sleep=lambda s: None)
        relay_run(budget_seconds=10)
        run_sweep()
        ticket = IncidentLink.objects.get(sys_id=sys_id).ticket
        run = Run.objects.get(ticket=ticket)
        assert (run.state, run.step) == ("waiting", "approve")
        services.proposal_decide(actor=admin, proposal_id=run.proposal_id, verdict="approve", version=1)
        run_resume_for_proposal(proposal_id=run.proposal_id)

        # The step's GET answers at once; its PATCH is held 6 s (the write lands then).
        snow.fail_next(Fault(), Fault(delay=6))
        db = django_settings.DATABASES["default"]
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "WARDEN_CONNECTORS_ALLOW_LOOPBACK": "1",
               "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
        log = tmp_path / "advance.log"
        with log.open("w") as out:
            child = subprocess.Popen([sys.executable, "-c", ADVANCE, fresh_tenant.schema_name, str(run.pk)],  # noqa: S603
                                     cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait(lambda: _patches(snow) == 1 or child.poll() is not None, 60, log, what="the PATCH")
            assert child.poll() is None, log.read_text()
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
        wait(lambda: snow.get(sys_id)["urgency"] == "1", 20, what="the held write to land")

        connection.set_tenant(fresh_tenant)
        run.refresh_from_db()
        step = run.steps.get(name="write_back")
        assert (run.state, step.state, step.attempts) == ("running", "running", 1)
        row = WriteBack.objects.get(ticket=ticket)
        assert row.status == "pending"  # the process died before it heard the answer
        # Time passes: the step and the write-back are past their "may still be in flight" windows.
        WriteBack.objects.filter(pk=row.pk).update(updated_at=timezone.now() - timedelta(minutes=6))
        assert run_sweep(now=timezone.now() + timedelta(minutes=3))["resumed"] == 1

        run.refresh_from_db()
        assert run.state == "done", run.steps.values_list("name", "state", "error")
        row.refresh_from_db()
        assert (row.status, row.detail) == ("sent", "sent by an earlier attempt (found in place)")
        assert _patches(snow) == 1  # written once
        assert Proposal.objects.get(pk=run.proposal_id).writeback_status == "sent"
        assert run.steps.get(name="write_back").attempts == 2
