"""manage.py policy_simulate."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from apps.policies.baseline import BASELINE_RULES
from apps.policies.models import DecisionLog
from apps.policies.services import decide

from .conftest import ticket


def write(tmp_path: Path, data, name: str = "draft.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def test_prints_the_simulation_as_json(tenant, tmp_path, agent_user, requester_user):
    DecisionLog.objects.all().delete()
    decide(agent_user, "ticket.comment", ticket(requester=requester_user))
    draft = copy.deepcopy(BASELINE_RULES)
    next(r for r in draft if r["name"] == "agents work tickets")["action"] = "ticket.view"
    out = io.StringIO()

    call_command("policy_simulate", "--tenant", "alpha", "--rules", write(tmp_path, {"rules": draft}), "--days", "2", stdout=out)

    result = json.loads(out.getvalue())
    assert result["days"] == 2
    assert result["evaluated"] == 1
    assert [(f["action"], f["before"], f["after"]) for f in result["flips"]] == [("ticket.comment", "allow", "deny")]
    assert connection.schema_name == tenant.schema_name  # the caller's tenant is restored


BAD_INPUT_CASES = [
    ("--tenant", "nosuch", "no tenant with slug 'nosuch'"),
    ("--rules", "missing.json", "cannot read"),
    ("--rules", "not json", "is not JSON"),
    ("--rules", '{"draft": []}', "must hold a JSON list"),
    (
        "--rules",
        '[{"name": "x", "subject": "*", "action": "ticket.fly", "effect": "allow"}]',
        "rules[0].action: unknown action 'ticket.fly'",
    ),
    ("--days", "0", "days must be a whole number from 1 to 90"),
]


@pytest.mark.parametrize(("option", "value", "message"), BAD_INPUT_CASES)
def test_bad_input_is_a_command_error(tenant, tmp_path, option, value, message):
    args = {"--tenant": "alpha", "--rules": write(tmp_path, BASELINE_RULES), "--days": "7"}
    if option == "--rules":
        args["--rules"] = str(tmp_path / value) if value.endswith(".json") else write(tmp_path, value)
    else:
        args[option] = value
    with pytest.raises(CommandError) as caught:
        call_command("policy_simulate", *[part for pair in args.items() for part in pair])
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_input_exits_1_with_one_line_on_stderr(tenant, tmp_path):
    """The real process: committed tenants, the test database, no traceback."""
    db = connection.settings_dict
    credentials = f"{db['USER']}:{quote(db['PASSWORD'])}" if db.get("PASSWORD") else db["USER"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    bad = write(tmp_path, [{"name": "x", "subject": "role:boss", "action": "ticket.view", "effect": "allow"}])
    completed = subprocess.run(
        [sys.executable, "manage.py", "policy_simulate", "--tenant", "alpha", "--rules", bad],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert lines == [
        "manage.py policy_simulate: error: rules[0].subject: unknown role 'boss': use one of requester, agent, admin"
    ]
