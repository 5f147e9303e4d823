"""Browser tests: a real gunicorn on 127.0.0.1 against the test database, driven by
Playwright through Debian's Chromium (no browser download). Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

# Playwright's sync API keeps an asyncio loop in this thread; Django's async-safety check
# takes that for an async context. Our ORM calls here are plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("WARDEN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_GUNICORN_LOG = ROOT / "test-artifacts" / f"gunicorn-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"

# On a failed browser test, what the server was doing: the sessions on the test database
# that were busy or waiting (and on whom), and the end of gunicorn's log. A page that
# never answers is then diagnosed from the report, not guessed at.
_SESSIONS = """
SELECT pid, pg_blocking_pids(pid) AS blocked_by, state, wait_event_type, wait_event,
       now() - xact_start AS in_transaction_for, left(query, 300) AS query
  FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
 ORDER BY xact_start
"""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    lines = []
    try:
        import psycopg

        db = settings.DATABASES["default"]
        name = (db.get("TEST") or {}).get("NAME") or db["NAME"]
        with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=name,
                             password=db.get("PASSWORD") or None, connect_timeout=5) as conn:
            for row in conn.execute(_SESSIONS):
                lines.append(" | ".join(str(v) for v in row))
    except Exception as exc:  # noqa: BLE001 - a diagnostic must not hide the failure itself
        lines.append(f"(sessions not read: {exc})")
    report.sections.append(("database sessions busy at failure", "\n".join(lines) or "(none)"))
    if _GUNICORN_LOG.exists():
        report.sections.append(("gunicorn log (end)", _GUNICORN_LOG.read_text()[-4000:]))


@pytest.fixture(scope="session")
def live_url(django_db_setup):
    """Base URL template of a real server: live_url.format(slug='alpha')."""
    db = settings.DATABASES["default"]
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS": "0",  # config/settings/test.py says why
    }
    log = _GUNICORN_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{port}",
             "-w", "2", "--timeout", "60", "--no-control-socket", "--access-logfile", "-",
             "--access-logformat", '%(t)s "%(r)s" %(s)s %(M)sms'],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            probe = urllib.request.Request(f"http://127.0.0.1:{port}/health/", headers={"Host": "localhost"})
            urllib.request.urlopen(probe, timeout=1)  # noqa: S310
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.terminate()
        pytest.fail("gunicorn did not answer /health/ in 30 s:\n" + log.read_text())
    yield "http://{slug}.localhost:" + str(port)
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make chromium` (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page_factory(browser):
    contexts = []

    def make(locale: str = "en-GB", width: int = 1280, height: int = 900):
        context = browser.new_context(locale=locale, viewport={"width": width, "height": height})
        context.set_default_timeout(30_000)  # the suite runs on every core: a page may wait for a CPU
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # Evidence, not a check: a long page (ReDoc) on a busy machine may take a while to paint.
    page.screenshot(path=str(path), full_page=True, timeout=60_000)
    return path


@pytest.fixture
def alpha(django_db_blocker):
    """`alpha(fn)`: run `fn` against tenant alpha's committed schema (the live server's
    data), from the test process."""

    def call(fn):
        with django_db_blocker.unblock(), schema_context("t_alpha"):
            try:
                return fn()
            finally:
                # Playwright's event loop gives this code its own connection: close it, or
                # it outlives the run and the test database cannot be dropped.
                connection.close()

    return call
