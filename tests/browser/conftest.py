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


@pytest.fixture(scope="session")
def live_url(django_db_setup):
    """Base URL template of a real server: live_url.format(slug='alpha')."""
    db = settings.DATABASES["default"]
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    log = ROOT / "test-artifacts" / "gunicorn.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{port}",
             "-w", "2", "--timeout", "60"],
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
