"""The operator commands on triage runs: a reason each, JSON or one line, audited with
the operator's name, one-line errors with exit code 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.triage.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(make_rule, new_ticket, relay):
    make_rule()
    ticket = new_ticket()
    relay()
    return Run.objects.get(ticket=ticket)


def cli(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_inspect_prints_the_run_with_its_steps_and_records_the_look(run):
    record = json.loads(cli("run_inspect", "--tenant", "alpha", "--run", str(run.pk), "--reason", "ticket 4711",
                            "--json"))
    assert (record["tenant"], record["run"], record["state"], record["step"]) == ("alpha", run.pk, "waiting", "approve")
    assert [s["step"] for s in record["steps"]] == ["classify", "propose", "approve", "write_back", "notify"]
    assert record["steps"][0]["state"] == "done"
    assert record["template_hash"] == run.template_hash
    looked = AuditEvent.objects.filter(action="triage.run_inspected").latest("seq")
    assert looked.payload_data["reason"] == "ticket 4711"
    assert looked.actor_label.startswith("operator:")


def test_owner_commands_assign_reassign_and_tell(run):
    line = cli("run_assign_owner", "--tenant", "alpha", "--run", str(run.pk), "--owner", "agent@alpha.test",
               "--reason", "on call")
    assert line.endswith("owner agent@alpha.test")
    with pytest.raises(CommandError, match="use run_reassign_owner") as refused:
        cli("run_assign_owner", "--tenant", "alpha", "--run", str(run.pk), "--owner", "agent2@alpha.test",
            "--reason", "mine now")
    assert refused.value.returncode == 2
    cli("run_reassign_owner", "--tenant", "alpha", "--run", str(run.pk), "--owner", "agent2@alpha.test",
        "--reason", "shift change")
    assert cli("run_get_owner", "--tenant", "alpha", "--run", str(run.pk), "--reason", "who?") == (
        f"alpha: run {run.pk}: owner agent2@alpha.test")
    with pytest.raises(CommandError, match="active agent or admin"):
        cli("run_reassign_owner", "--tenant", "alpha", "--run", str(run.pk), "--owner", "requester@alpha.test",
            "--reason", "x")


def test_escalate_unblock_and_close(run):
    assert "escalated at approve (customer waiting)" in cli("run_escalate", "--tenant", "alpha", "--run", str(run.pk),
                                                 "--reason", "customer waiting")
    assert ": waiting at approve" in cli("run_unblock", "--tenant", "alpha", "--run", str(run.pk), "--reason", "ok")
    closed = json.loads(cli("run_override_close", "--tenant", "alpha", "--run", str(run.pk), "--reason", "by phone",
                            "--json"))
    assert (closed["state"], closed["reason"]) == ("closed", "by phone")
    actions = set(AuditEvent.objects.filter(action__startswith="triage.run_").values_list("action", flat=True))
    assert {"triage.run_escalated", "triage.run_unblocked", "triage.run_closed"} <= actions


@pytest.mark.parametrize(("args", "message"), [
    (["--tenant", "nope", "--run", "1", "--reason", "x"], "no tenant with slug 'nope'"),
    (["--tenant", "alpha", "--run", "999999", "--reason", "x"], "no run 999999 in tenant 'alpha'"),
    (["--tenant", "alpha", "--run", "{run}", "--reason", "   "], "--reason must say why"),
])
def test_bad_input_is_one_line_and_exit_code_2(run, args, message):
    args = [a.replace("{run}", str(run.pk)) for a in args]
    with pytest.raises(CommandError, match=message) as refused:
        cli("run_escalate", *args)
    assert refused.value.returncode == 2


def test_from_the_shell_a_missing_reason_is_a_usage_error():
    done = subprocess.run([sys.executable, "manage.py", "run_escalate", "--tenant", "alpha", "--run", "1"],  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "manage.py run_escalate: error: the following arguments are required: --reason"]
