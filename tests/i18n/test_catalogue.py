"""The Polish catalogue is complete and current.

* Every entry of locale/pl/LC_MESSAGES/django.po is translated and none is fuzzy (a fuzzy
  entry is msgmerge's guess: Django never shows it, and it is often wrong).
* `msgfmt --check` accepts it: placeholders (%(name)s, {region}) and plural forms agree
  with each msgid.
* The committed django.mo is the compiled django.po (`make messages`).
* It is current: `makemessages` run on a copy of the tree finds no gettext string in the
  code that the catalogue lacks, and no entry the code no longer has.

When a test here fails: run
`.venv/bin/python manage.py makemessages -l pl --ignore=.venv --ignore=node_modules --no-obsolete`,
translate what is new or fuzzy in locale/pl/LC_MESSAGES/django.po, then `make messages`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "pl" / "LC_MESSAGES" / "django.po"
MO = ROOT / "locale" / "pl" / "LC_MESSAGES" / "django.mo"
# Left out of the copy that makemessages reads (as `--ignore` does for the real run):
# the virtualenv, services' data, test output and every dot-directory (.git, caches).
NOT_SOURCES = {".venv", ".run", "test-artifacts", "node_modules"}
FIX = (
    "run `.venv/bin/python manage.py makemessages -l pl --ignore=.venv --ignore=node_modules --no-obsolete`, "
    "translate the new and fuzzy entries of locale/pl/LC_MESSAGES/django.po, then `make messages`"
)


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: apt-get install gettext (`make test` installs it)")
    return path


def _key(entry) -> tuple[str, str, str]:
    return (entry.msgctxt or "", entry.msgid, entry.msgid_plural or "")


def _show(entry) -> str:
    where = ", ".join(f"{path}:{line}" for path, line in entry.occurrences[:2])
    context = f" [{entry.msgctxt}]" if entry.msgctxt else ""
    return f"{entry.msgid!r}{context} ({where})"


def _problems(po: polib.POFile) -> list[str]:
    problems = []
    for entry in po:
        if entry.obsolete:
            continue
        if "fuzzy" in entry.flags:
            problems.append("fuzzy: " + _show(entry))
        elif entry.msgid_plural:
            if not entry.msgstr_plural or not all(entry.msgstr_plural.values()):
                problems.append("untranslated plural: " + _show(entry))
        elif not entry.msgstr:
            problems.append("untranslated: " + _show(entry))
    return problems


def test_every_polish_entry_is_translated_and_none_is_fuzzy():
    po = polib.pofile(str(PO))
    assert po.metadata["Plural-Forms"].startswith("nplurals=4;")
    problems = _problems(po)
    assert not problems, f"{len(problems)} entries need a translation ({FIX}):\n" + "\n".join(problems)
    obsolete = [_show(e) for e in po.obsolete_entries()]
    assert not obsolete, "obsolete entries (#~) left in the catalogue:\n" + "\n".join(obsolete)


def test_msgfmt_accepts_the_placeholders_and_plural_forms(tmp_path):
    msgfmt = _require("msgfmt")
    result = subprocess.run(  # noqa: S603
        [msgfmt, "--check-format", "--check-header", "--check-domain", "-o", str(tmp_path / "x.mo"), str(PO)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_committed_mo_is_the_compiled_po():
    compiled = {(e.msgctxt or "", e.msgid): (e.msgstr, e.msgstr_plural) for e in polib.mofile(str(MO))}
    source = {
        (e.msgctxt or "", e.msgid): (e.msgstr, e.msgstr_plural)
        for e in polib.pofile(str(PO)) if not e.obsolete and "fuzzy" not in e.flags and e.translated()
    }
    compiled.pop(("", ""), None)  # the header
    stale = sorted(k for k in source.keys() | compiled.keys() if source.get(k) != compiled.get(k))
    assert not stale, f"django.mo differs from django.po (run `make messages`): {stale[:10]}"


def _sources_copy(target: Path) -> None:
    target.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules")
    for source in ROOT.iterdir():
        if source.name in NOT_SOURCES or source.name.startswith("."):
            continue
        if source.is_dir():
            shutil.copytree(source, target / source.name, ignore=ignore, symlinks=True)
        else:
            shutil.copy2(source, target / source.name)


@pytest.mark.slow
def test_the_catalogue_has_every_string_of_the_code_and_nothing_else(tmp_path):
    """makemessages on a copy of the tree (never on the checkout itself): the entries it
    would write are exactly the catalogue's, and it leaves none untranslated or fuzzy."""
    _require("xgettext")
    _require("msgmerge")
    copy = tmp_path / "tree"
    _sources_copy(copy)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONPATH": str(copy)}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "makemessages", "-l", "pl", "--no-obsolete", "--ignore=node_modules"],
        cwd=copy, env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ours = {_key(e): e for e in polib.pofile(str(PO)) if not e.obsolete}
    fresh = {_key(e): e for e in polib.pofile(str(copy / "locale" / "pl" / "LC_MESSAGES" / "django.po"))
             if not e.obsolete}
    missing = [_show(fresh[k]) for k in sorted(fresh.keys() - ours.keys())]
    gone = [_show(ours[k]) for k in sorted(ours.keys() - fresh.keys())]
    assert not missing, f"strings in the code that the Polish catalogue lacks ({FIX}):\n" + "\n".join(missing)
    assert not gone, f"catalogue entries the code no longer has ({FIX}):\n" + "\n".join(gone)
    problems = _problems(polib.pofile(str(copy / "locale" / "pl" / "LC_MESSAGES" / "django.po")))
    assert not problems, "\n".join(problems)
