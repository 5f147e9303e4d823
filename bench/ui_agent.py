"""Agent desk latency over real HTTP (gunicorn on 127.0.0.1), on the seeded bench tenant.

    .venv/bin/python bench/tickets_seed.py        # once: 100k tickets, 300k comments
    .venv/bin/python bench/ui_agent.py [--slug bench-tickets] [-n 200] [--port 8766]

Both honour DATABASE_URL (e.g. a scratch database for benchmarks). This script:

1. counts the SQL queries of each page in-process (Django test client, same database),
   and checks that the queue's count is the same at 25 and at 100 rows per page;
2. starts `gunicorn config.wsgi:application` (local settings, DEBUG off, persistent DB
   connections as in production), signs in as agent0 through the real login form,
   warms up, then sends N sequential requests per scenario with http.client and prints
   p50/p95 per scenario. Times are taken at the client on loopback (connect + request
   + full response), so they bound the server time from above. Stops gunicorn.

Targets (p95): queue < 60 ms (default view, and three filters plus text), ticket
detail < 40 ms, Kanban board < 80 ms.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

PASSWORD = "bench-password-not-secret"  # bench/tickets_seed.py gives agent0 this password
TARGETS_MS = {"queue": 60, "queue, 3 filters + q": 60, "detail": 40, "board": 80}


def prepare(slug: str) -> dict:
    from apps.accounts.models import Team
    from apps.tenants.models import Tenant
    from apps.tickets.models import Ticket

    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        sys.exit(f"No tenant {slug!r}: run bench/tickets_seed.py first.")
    with schema_context(tenant.schema_name):
        total = Ticket.objects.count()
        if total < 1000:
            sys.exit(f"Tenant {slug!r} has {total} tickets: run bench/tickets_seed.py first.")
        team = Team.objects.get(name="Service Desk")
        with connection.cursor() as cursor:
            # A word of middling frequency (about 2-4 % of tickets), as in bench/tickets_api.py.
            cursor.execute(
                "SELECT word FROM ts_stat('SELECT search_vector FROM tickets_ticket WHERE id <= 3000') "
                "WHERE ndoc BETWEEN 60 AND 120 AND length(word) > 4 ORDER BY ndoc, word LIMIT 1"
            )
            word = cursor.fetchone()[0]
        numbers = list(Ticket.objects.order_by("?").values_list("number", flat=True)[:500])
    return {"tenant": tenant, "host": f"{slug}.localhost", "team": team.pk, "word": word, "numbers": numbers,
            "total": total, "agent": f"agent0@{slug}.test"}


def scenarios(ctx: dict, rng: random.Random) -> dict:
    filtered = urlencode([("status", "open"), ("status", "pending"), ("priority", "P2"), ("team", ctx["team"]),
                          ("q", ctx["word"])])
    return {
        "queue": lambda: ("/desk/", {}),
        "queue, 3 filters + q": lambda: (f"/desk/?{filtered}", {}),
        "queue htmx refresh": lambda: (f"/desk/?{filtered}", {"HX-Request": "true", "HX-Target": "queue-results"}),
        "queue, sorted by status": lambda: ("/desk/?sort=status", {}),
        "queue, sorted by title": lambda: ("/desk/?sort=title", {}),
        "detail": lambda: (f"/desk/tickets/{rng.choice(ctx['numbers'])}/", {}),
        "board": lambda: ("/desk/board/", {}),
        "board, team filter": lambda: (f"/desk/board/?team={ctx['team']}", {}),
    }


def count_queries(ctx: dict) -> dict[str, int]:
    """SQL statements per page, served in this process by the Django test client."""
    from django.test import Client

    from apps.accounts.models import User

    client = Client(HTTP_HOST=ctx["host"])
    with schema_context(ctx["tenant"].schema_name):  # the session lives in the tenant's schema
        agent = User.objects.get(email=ctx["agent"])
        client.force_login(agent, backend="django.contrib.auth.backends.ModelBackend")
    rng = random.Random(1)  # noqa: S311 - which ticket to read, not a secret
    counts = {}
    pages = {name: make for name, make in scenarios(ctx, rng).items()}
    pages["queue, 100 rows"] = lambda: ("/desk/?per_page=100", {})
    pages["queue, 3 filters + q, 100 rows"] = lambda: (scenarios(ctx, rng)["queue, 3 filters + q"]()[0] + "&per_page=100", {})
    for name, make in pages.items():
        path, headers = make()
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        client.get(path, **extra)  # warm caches, so the count is the steady state
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, **extra)
        if response.status_code != 200:
            sys.exit(f"{name}: HTTP {response.status_code} in-process ({path}); is the desk mounted at /desk/?")
        counts[name] = len(captured.captured_queries)
    connection.set_schema_to_public()
    return counts


def start_server(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "60",
    }
    command = [
        str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "sync",
        "--log-level", "warning", "--access-logfile", "-" if os.environ.get("BENCH_ACCESS_LOG") else "/dev/null",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - our own fixed command line
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health/", headers={"Host": "localhost"})
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    sys.exit("gunicorn did not come up")


class Browser:
    """Just enough of a browser for the desk: one host, cookies, keep-alive off."""

    def __init__(self, port: int, host: str):
        self.port, self.host, self.cookies = port, host, {}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        all_headers = {"Host": self.host, "Accept": "text/html", **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        content = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        conn.close()
        return elapsed, response.status, content, dict(response.getheaders())

    def sign_in(self, email: str) -> None:
        _, status, page, _ = self.request("GET", "/accounts/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or token is None:
            sys.exit(f"login page: HTTP {status}")
        body = urlencode({"csrfmiddlewaretoken": token.group(1).decode(), "login": email, "password": PASSWORD})
        _, status, _, headers = self.request("POST", "/accounts/login/", body.encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "Referer": f"http://{self.host}/accounts/login/",
        })
        if status != 302 or "sessionid" not in self.cookies:
            sys.exit(f"sign-in as {email} failed: HTTP {status}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slug", default="bench-tickets")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    ctx = prepare(args.slug)
    print(f"tenant {args.slug}: {ctx['total']} tickets; q={ctx['word']!r}")

    counts = count_queries(ctx)
    print(f"\n{'page':<34} {'SQL queries':>11}")
    for name, count in counts.items():
        print(f"{name:<34} {count:>11}")
    same = counts["queue"] == counts["queue, 100 rows"] and \
        counts["queue, 3 filters + q"] == counts["queue, 3 filters + q, 100 rows"]
    print(f"queue queries independent of page size (25 vs 100 rows): {'yes' if same else 'NO'}")

    rng = random.Random(7)  # noqa: S311 - which ticket to read, not a secret
    server = start_server(args.port)
    results: dict[str, list[float]] = {}
    try:
        browser = Browser(args.port, ctx["host"])
        browser.sign_in(ctx["agent"])
        for name, make in scenarios(ctx, rng).items():
            for _ in range(20):  # warm-up: imports, connections, plans
                path, headers = make()
                browser.request("GET", path, headers=headers)
            times = []
            for _ in range(args.n):
                path, headers = make()
                elapsed, status, content, _ = browser.request("GET", path, headers=headers)
                if status != 200:
                    raise SystemExit(f"{name}: HTTP {status} for {path}: {content[:300]!r}")
                times.append(elapsed)
            results[name] = times
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    print(f"\n{'scenario':<26} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'target p95':>12}")
    for name, times in results.items():
        target = TARGETS_MS.get(name)
        p95 = percentile(times, 0.95)
        verdict = "" if target is None else (f"< {target} ok" if p95 < target else f"< {target} MISSED")
        print(f"{name:<26} {len(times):>4} {percentile(times, 0.5):>8.1f} {p95:>8.1f} "
              f"{statistics.mean(times):>8.1f} {verdict:>12}")


if __name__ == "__main__":
    main()
