"""Operator commands as an operator runs them: real `manage.py` processes against the
test database. Errors are one line on stderr with exit code 2 and leave nothing behind;
`provision_tenant` is idempotent and never adds a second admin."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-staple"

# Runs several command lines through Django's real entry point (execute_from_command_line,
# argument parsing, run_from_argv, sys.exit) in ONE process, so that a dozen cases do not
# pay a dozen Django start-ups. Each case's stdout, stderr and exit code are reported.
DRIVER = r"""
import contextlib, io, json, sys
import django
django.setup()
from django.core.management import execute_from_command_line
results = []
for argv in json.loads(sys.argv[1]):
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            execute_from_command_line(["manage.py", *argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    results.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(results))
"""


def _env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }


def manage(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python manage.py <argv>` in its own process."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *argv], cwd=ROOT, env={**_env(), **(env or {})}, capture_output=True, text=True,
        timeout=120,
    )


def manage_many(*argvs: list[str]) -> list[dict]:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", DRIVER, json.dumps(list(argvs))], cwd=ROOT, env=_env(),
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _state() -> dict:
    """Everything a failed command must leave untouched (committed rows, schemas)."""
    from apps.accounts.models import Team, User
    from apps.audit.models import AuditEvent
    from apps.tenants.models import Domain, Tenant

    connection.set_schema_to_public()
    with connection.cursor() as cur:
        cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%' ORDER BY 1")
        schemas = [row[0] for row in cur.fetchall()]
    state = {"tenants": Tenant.objects.count(), "domains": Domain.objects.count(), "schemas": schemas}
    for schema in ("t_alpha", "t_beta"):
        with schema_context(schema):
            state[schema] = {
                "users": sorted(User.objects.values_list("email", "role")),
                "teams": sorted(Team.objects.values_list("name", flat=True)),
                "audit": AuditEvent.objects.count(),
            }
    return state


def _assert_one_line_error(result: dict | subprocess.CompletedProcess, *fragments: str) -> str:
    code = result["code"] if isinstance(result, dict) else result.returncode
    stderr = result["stderr"] if isinstance(result, dict) else result.stderr
    stdout = result["stdout"] if isinstance(result, dict) else result.stdout
    assert code == 2, (code, stderr)
    assert stderr.endswith("\n")
    line = stderr[:-1]
    assert line, stderr
    assert "\n" not in line, stderr
    assert "Traceback" not in line
    assert "usage:" not in line
    assert " error: " in line
    for fragment in fragments:
        assert fragment in line, line
    assert stdout == ""
    return line


@pytest.fixture
def committed(django_db_setup, django_db_blocker):
    """Committed reads and writes from this process (the commands commit theirs)."""
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        yield
        connection.set_schema_to_public()


@pytest.mark.slow
def test_provision_tenant_bad_slug_and_region_in_a_real_process(committed):
    before = _state()
    bad_slug = manage("provision_tenant", "--slug", "Bad_Slug!", "--name", "X", "--region", "eu",
                      "--admin-email", "a@b.test")
    _assert_one_line_error(bad_slug, "manage.py provision_tenant: error:", "slug")
    mars = manage("provision_tenant", "--slug", "zeta", "--name", "Z", "--region", "mars", "--admin-email", "a@b.test")
    _assert_one_line_error(mars, "--region", "invalid choice: 'mars'")
    assert _state() == before


@pytest.mark.slow
def test_an_unreachable_database_is_one_line_and_exit_1():
    result = manage("issue_token", "--tenant", "alpha", "--email", "admin@alpha.test",
                    env={"DATABASE_URL": "postgres://warden@127.0.0.1:1/nowhere"})
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("manage.py issue_token: error: database error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.fixture
def empty_database():
    """A database on the test server with no tables at all (never migrated): its name.
    Dropped afterwards."""
    import psycopg

    db = settings.DATABASES["default"]
    name = f"warden_unmigrated_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    server = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db.get("PASSWORD") or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_commands_on_an_unmigrated_database_say_run_make_migrate_in_one_line(empty_database):
    db = settings.DATABASES["default"]
    env = {"DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{empty_database}"}
    commands = [
        ["provision_tenant", "--slug", "zeta", "--name", "Zeta", "--region", "eu", "--admin-email", "admin@zeta.test"],
        ["create_user", "--tenant", "zeta", "--email", "agent@zeta.test", "--role", "agent"],
        ["outbox_status", "--tenant", "zeta"],
        ["audit_verify", "--tenant", "zeta"],
    ]
    for argv in commands:
        result = manage(*argv, env=env)
        assert result.returncode == 2, (argv, result.stderr)
        assert result.stderr.startswith(f"manage.py {argv[0]}: error: "), result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert "`make migrate`" in result.stderr
        assert empty_database in result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""


OPERATOR_ERRORS = [
    # (argv, fragments the one line must contain)
    (["provision_tenant", "--slug", "public", "--name", "X", "--region", "eu", "--admin-email", "a@b.test"],
     ["'public' is reserved"]),
    (["provision_tenant", "--slug", "alpha", "--name", "Alpha", "--region", "us", "--admin-email", "a@b.test"],
     ["already exists in region 'eu'"]),
    (["provision_tenant", "--slug", "zeta", "--name", "Z", "--region", "eu"], ["--admin-email"]),
    (["provision_tenant", "--slug", "zeta", "--name", "  ", "--region", "eu", "--admin-email", "a@b.test"],
     ["name: A name is required."]),
    (["provision_tenant", "--slug", "zeta", "--name", "Z", "--region", "eu", "--admin-email", "not-an-email"],
     ["'not-an-email' is not an email address"]),
    (["provision_tenant", "--slug", "zeta", "--name", "Z", "--region", "eu", "--admin-email", "a@b.test",
      "--allowed-regions", "us,mars"], ["Unknown region(s): mars", "Must include the home region eu"]),
    (["create_user", "--tenant", "nope", "--email", "x@y.test", "--role", "agent"], ["no tenant with slug 'nope'"]),
    (["create_user", "--tenant", "alpha", "--email", "x@alpha.test", "--role", "boss"], ["invalid choice: 'boss'"]),
    (["create_user", "--tenant", "alpha", "--email", "agent@alpha.test", "--role", "agent"], ["already exists"]),
    (["create_user", "--tenant", "alpha", "--email", "short@alpha.test", "--role", "agent", "--password", "123"],
     ["too short"]),
    (["create_user", "--tenant", "alpha", "--email", "not-an-email", "--role", "agent"], ["valid email"]),
    (["issue_token", "--tenant", "alpha", "--email", "ghost@alpha.test"], ["no active user 'ghost@alpha.test'"]),
    (["issue_token", "--tenant", "gone", "--email", "admin@alpha.test"], ["no tenant with slug 'gone'"]),
    (["residency_report", "--tenant", "gone"], ["no tenant with slug 'gone'"]),
    (["residency_report"], ["--tenant"]),
]


@pytest.mark.slow
def test_operator_errors_are_one_line_exit_2_and_change_nothing(committed):
    before = _state()
    results = manage_many(*(argv for argv, _ in OPERATOR_ERRORS))
    for (argv, fragments), result in zip(OPERATOR_ERRORS, results, strict=True):
        line = _assert_one_line_error(result, *fragments)
        assert line.startswith(f"manage.py {argv[0]}: error: "), line
    assert _state() == before


@pytest.mark.slow
def test_provision_tenant_twice_is_idempotent_and_never_adds_a_second_admin(committed):
    from apps.accounts.models import Role, User
    from apps.audit.models import AuditEvent
    from apps.tenants.models import Domain, Tenant

    slug = f"cli-{uuid.uuid4().hex[:8]}"
    args = ["provision_tenant", "--slug", slug, "--name", "Cli Ltd", "--region", "eu",
            "--admin-email", f"Boss@{slug}.test", "--admin-password", "a-long-enough-password"]
    try:
        first, second, other_admin, agent_as_admin = manage_many(
            args,
            args,
            [*args[:-4], "--admin-email", f"intruder@{slug}.test"],
            ["create_user", "--tenant", slug, "--email", f"agent@{slug}.test", "--role", "agent"],
        )
        assert first["code"] == 0, first["stderr"]
        created = json.loads(first["stdout"])
        assert created["created"] is True
        assert created["admin_created"] is True
        assert created["schema"] == f"t_{slug.replace('-', '_')}"
        assert second["code"] == 0, second["stderr"]
        again = json.loads(second["stdout"])
        assert again["created"] is False
        assert again["admin_created"] is False
        assert {k: v for k, v in again.items() if k not in ("created", "admin_created", "seconds")} == {
            k: v for k, v in created.items() if k not in ("created", "admin_created", "seconds")
        }
        assert agent_as_admin["code"] == 0, agent_as_admin["stderr"]

        line = _assert_one_line_error(other_admin, f"intruder@{slug}.test is not one of its admins",
                                      f"admins: boss@{slug}.test", "create_user")
        assert "Traceback" not in line
        # Re-running with an existing non-admin's email is refused the same way.
        (agent_again,) = manage_many([*args[:-4], "--admin-email", f"agent@{slug}.test"])
        _assert_one_line_error(agent_again, f"agent@{slug}.test is not one of its admins")

        tenant = Tenant.objects.get(slug=slug)
        assert Domain.objects.filter(tenant=tenant).count() == 1
        with schema_context(tenant.schema_name):
            assert sorted(User.objects.values_list("email", "role")) == [
                (f"agent@{slug}.test", Role.AGENT), (f"boss@{slug}.test", Role.ADMIN)
            ]
            operator = f"operator:{getpass.getuser()}"
            provisioned = AuditEvent.objects.get(action="tenant.provisioned")
            assert provisioned.actor_label == operator
            admin_created = AuditEvent.objects.get(action="user.created", target_id=str(
                User.objects.get(email=f"boss@{slug}.test").pk))
            assert admin_created.actor_label == operator
            assert AuditEvent.objects.filter(action="tenant.provisioned").count() == 1
    finally:
        connection.set_schema_to_public()
        for tenant in Tenant.objects.filter(slug=slug):
            with connection.cursor() as cur:
                cur.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
            Domain.objects.filter(tenant=tenant).delete()
            tenant.delete()


def test_parser_errors_raise_command_error_with_code_2_in_process(db):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as excinfo:
        call_command("provision_tenant", "--slug", "zeta", "--name", "Z", "--region", "mars", "--admin-email", "a@b.test")
    assert excinfo.value.returncode == 2
    with pytest.raises(CommandError) as excinfo:
        call_command("provision_tenant", "--slug", "public", "--name", "Z", "--region", "eu", "--admin-email", "a@b.test")
    assert excinfo.value.returncode == 2
    assert "\n" not in str(excinfo.value)
