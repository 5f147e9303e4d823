"""How verify_pack.py is built from the verifier's parts (apps/audit/verifier/): no DB.

The pack built from a real tenant, and verified by this file in a separate process, is
in test_evidence.py (test_verify_pack_py_is_each_part_once_stdlib_only_and_verifies_a_real_pack).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.audit import verify
from apps.audit.verifier import assemble
from apps.audit.verifier.assemble import PARTS, AssemblyError, part_sources, verify_pack_source

ROOT = Path(__file__).resolve().parents[2]
PACK_MAIN = ROOT / "apps" / "audit" / "pack_main.py"


def test_every_part_is_standard_library_only_and_imports_only_earlier_parts():
    modules = {path.stem for path in assemble.PACKAGE_DIR.glob("*.py")} - {"__init__", "assemble"}
    assert modules == set(PARTS), "a module of apps/audit/verifier/ is not in assemble.PARTS"
    for index, (label, text) in enumerate(part_sources()):
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                assert {alias.name.split(".")[0] for alias in node.names} <= set(sys.stdlib_module_names), label
            elif isinstance(node, ast.ImportFrom) and node.level:
                assert (node.level, node.module) in {(1, part) for part in PARTS[:index]}, f"{label}: {node.module}"
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] in sys.stdlib_module_names, f"{label}: {node.module}"


def test_verify_reexports_every_public_name_of_the_parts():
    public = set()
    for _label, text in part_sources():
        for node in ast.parse(text).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                public.add(node.name)
            elif isinstance(node, ast.Assign):
                public |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    public = {name for name in public if not name.startswith("_")}
    assert set(verify.__all__) == public
    assert all(hasattr(verify, name) for name in public)


def test_the_same_sources_give_the_same_bytes_whatever_the_hash_seed():
    """Sets and dicts order by hash in places: the output must not depend on it."""
    here = verify_pack_source(PACK_MAIN)
    code = ("import sys; from pathlib import Path; from apps.audit.verifier.assemble import verify_pack_source; "
            f"sys.stdout.buffer.write(verify_pack_source(Path({str(PACK_MAIN)!r})).encode('utf-8'))")
    for seed in ("0", "1", "4242"):
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": seed}  # no Django settings: none needed
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, timeout=60)  # noqa: S603
        assert result.returncode == 0, result.stderr
        assert result.stdout == here.encode("utf-8")


def test_the_segment_command_line_works_inside_verify_pack_py(chain, tmp_path):
    """`main()` of the cli part is in the joined file too, and runs there on its own."""
    verifier = tmp_path / "verify_pack.py"
    verifier.write_text(verify_pack_source(PACK_MAIN), encoding="utf-8")
    segment = tmp_path / "segment.json"
    segment.write_text(json.dumps(chain.build(25)), encoding="utf-8")
    code = (f"import runpy, sys; ns = runpy.run_path({str(verifier)!r}, run_name='verify_pack'); "
            f"sys.exit(ns['main']([{str(segment)!r}, '--key', '{chain.key_id}=SEGMENT_KEY']))")
    env = {"PATH": os.environ.get("PATH", ""), "SEGMENT_KEY": chain.key.decode()}
    result = subprocess.run([sys.executable, "-I", "-c", code], env=env, capture_output=True, text=True, timeout=60)  # noqa: S603
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK head_seq=25")


def _joined(*sources: str) -> str:
    return assemble.assemble([(f"part{index}.py", text) for index, text in enumerate(sources)])


def test_imports_are_merged_sorted_and_written_once():
    text = _joined(
        '"""One."""\nfrom __future__ import annotations\n\nimport sys\nfrom datetime import timezone\n\nA = 1\n',
        '"""Two."""\nfrom __future__ import annotations\n\nimport json\nimport sys\nfrom datetime import datetime\n\n'
        "from .part0 import A\n\nB = A + 1\n",
    )
    head = text.split("\n\n\n# --- ")[0]
    assert head.endswith("from __future__ import annotations\n\nimport json\nimport sys\nfrom datetime import datetime, timezone")
    assert "from .part0" not in text
    namespace: dict = {}
    exec(compile(text, "joined.py", "exec"), namespace)  # noqa: S102 - our own test input
    assert namespace["B"] == 2
    assert "# --- part1.py " in text
    assert "# Two." in text


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (["import requests\n"], "requests is not in the standard library"),
        (["from django.conf import settings\n"], "django.conf is not in the standard library"),
        (["A = 1\n", "def f():\n    from .part0 import A\n    return A\n"], "leading import block only"),
        (["A = 1\n", "from .part0 import B\n"], "B is not defined by an earlier part"),
        (["from .part1 import B\n", "B = 1\n"], "B is not defined by an earlier part"),  # wrong order
        (["A = 1\n", "from .part0 import A as C\n"], "under its own name"),
        (["A = 1\n", "from .part0 import *\n"], "under its own name"),
        (["A = 1\n", "import apps.audit.verify\n"], "not modules"),
        (["def f():\n    pass\n", "def f():\n    pass\n"], "f is defined in part0.py too"),
        (["from datetime import datetime\n", "import datetime\n"], "datetime is imported as"),
        (["import json\n", "json = 1\n"], "imported and defined"),
        (["if __name__ == '__main__':\n    pass\n", "A = 1\n"], "in the last source only"),
        (["import json; A = 1\n"], "one statement per line"),
        (["A = 1\n", "if A: from .part0 import A\n"], "a statement of its own line"),
        (["A = (\n"], "cannot be read"),
        (["A = = 1\n"], "does not compile"),
    ],
)
def test_what_would_break_the_joined_file_is_refused(sources, message):
    with pytest.raises(AssemblyError, match=message):
        _joined(*sources)


def test_building_uses_no_ast_objects(monkeypatch):
    """Packs are built in threaded app processes: on CPython 3.11 building `ast` objects
    while another thread does can fail ("AST constructor recursion depth mismatch",
    python/cpython#106905), as a traceback formatted in another thread showed once."""

    def refuse(*args, **kwargs):
        raise AssertionError("verify_pack.py must be assembled without ast")

    monkeypatch.setattr(ast, "parse", refuse)
    monkeypatch.setattr(ast, "literal_eval", refuse)
    assert verify_pack_source(PACK_MAIN).startswith('"""verify_pack.py')
