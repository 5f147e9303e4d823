"""Any subset of the suite runs alone: a test that uses only committed data (no `db`
fixture) gets the test database and the seeded tenants even when nothing else selected
asks pytest-django for a database (tests/conftest.py, `django_db_setup`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

ROOT = Path(__file__).resolve().parents[2]


def test_committed_data_without_the_db_fixture(django_db_setup, django_db_blocker):
    from apps.accounts.models import User

    database = settings.DATABASES["default"]
    assert database["NAME"] == database["TEST"]["NAME"]
    with django_db_blocker.unblock(), schema_context("t_alpha"):
        assert User.objects.filter(email="admin@alpha.test", role="admin").exists()


@pytest.mark.slow
def test_a_committed_data_test_selected_alone_passes():
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "WARDEN_TEST_DB"))}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # its own test_warden_<pid> database, dropped after
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pytest", f"{Path(__file__).relative_to(ROOT)}",
         "-k", "committed_data_without_the_db_fixture"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed, 1 deselected" in result.stdout, result.stdout[-3000:]
