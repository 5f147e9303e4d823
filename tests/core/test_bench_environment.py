"""bench/environment.py: every benchmark prints the database's durability settings and the
load it ran with. Against the tests' server (`make test` starts it with --fast), it must say
that the figures were not taken on a durable database."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _environment():
    spec = importlib.util.spec_from_file_location("bench_environment", ROOT / "bench" / "environment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_describe_names_the_durability_settings_the_server_runs_with():
    environment = _environment()
    with connection.cursor() as cursor:
        cursor.execute("SHOW fsync")
        fsync = cursor.fetchone()[0]
        line = environment.describe(cursor)
    assert f"fsync={fsync}" in line
    assert "synchronous_commit=" in line
    assert "full_page_writes=" in line
    assert ("(durable)" in line) == (fsync == "on" and "synchronous_commit=on" in line and "full_page_writes=on" in line)
    assert "NOT DURABLE" in line or "(durable)" in line
    assert "load average" in line


def test_every_benchmark_prints_it():
    helpers = {"environment.py", "throwaway_db.py", "sla_common.py", "governance_common.py", "servers.py"}
    scripts = [p for p in (ROOT / "bench").glob("*.py") if p.name not in helpers]
    assert scripts
    silent = [p.name for p in scripts if "describe()" not in p.read_text()]
    assert not silent, f"benchmarks that do not print the database settings: {silent}"
