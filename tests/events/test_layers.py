"""The house rules hold, and the check that holds them is live: a forbidden import added to
a copy of the code breaks the build (lint-imports exits 1 and names it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)},
    )


def test_the_code_keeps_the_layer_contracts():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_a_forbidden_import_breaks_the_build(tmp_path):
    copy = tmp_path / "warden"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    shutil.copytree(ROOT / "apps", copy / "apps", ignore=shutil.ignore_patterns("__pycache__"))
    # A lower app reaching up: tickets calling the SLA app directly again.
    (copy / "apps" / "tickets" / "shortcut.py").write_text("from apps.sla import services  # noqa: F401\n")
    result = _lint(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Apps import only the layers below them BROKEN" in result.stdout
    assert "apps.tickets.shortcut -> apps.sla.services" in result.stdout

    (copy / "apps" / "tickets" / "shortcut.py").unlink()
    # A circle between two modules of one app.
    (copy / "apps" / "events" / "choices.py").write_text(
        (ROOT / "apps" / "events" / "choices.py").read_text() + "\nfrom . import backoff  # noqa: E402,F401\n"
    )
    (copy / "apps" / "events" / "backoff.py").write_text(
        (ROOT / "apps" / "events" / "backoff.py").read_text() + "\nfrom . import choices  # noqa: E402,F401\n"
    )
    result = _lint(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No import cycles between the modules of one app BROKEN" in result.stdout
