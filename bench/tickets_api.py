"""Tickets API latency over real HTTP (gunicorn on 127.0.0.1), on the seeded bench tenant.

    .venv/bin/python bench/tickets_seed.py          # once: 100k tickets, 300k comments
    .venv/bin/python bench/tickets_api.py [--slug bench-tickets] [-n 200] [--port 8765]

Starts `gunicorn config.wsgi:application` (DJANGO_SETTINGS_MODULE=config.settings.local,
DEBUG off, persistent DB connections as in production, rate limits lifted), warms it up,
then sends N sequential requests per scenario with http.client and a Host header, and
prints p50/p95 per scenario: the server time (gunicorn's own per-request time, `%(D)s`
in its access log: from reading the request to sending the response, measured in the
worker) and the round trip seen by this script. Stops gunicorn.

Scenarios: the default list (newest first), the list with three filters and `q`, a text
search, a page by priority deep inside thousands of P3 tickets (keyset cursor), a
requester's own list, a ticket's detail, and create (policy, audit event, SLA clocks).
Searches (apps/tickets/search.py: most relevant first, highlights in the page): a word of
middling frequency (2-4 % of tickets before its forms are added), a plural whose singular
is one of the commonest words (`printers`: widened to `printer`, matched by a large part of
the tenant, so the ranked window and the older part both work), the first letters of the
middling word (a prefix, as while typing), a ticket number (`#N`), and a requester's
search of their own tickets.

Targets on a 2-core machine: list p95 < 55 ms, text search < 60 ms (every search
scenario), detail < 20 ms, create < 25 ms (policy decision and audit event included).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

TARGETS_MS = {"list": 55, "list, 3 filters + q": 55, "text search (q)": 60, "by priority, deep cursor": 55,
              "detail": 20, "create": 25, "search: printers (forms)": 60, "search: prefix": 60,
              "search: #number": 60, "search (requester, own)": 60}


def prepare(slug: str) -> dict:
    from apps.accounts.models import Team, User
    from apps.accounts.services import token_issue
    from apps.tenants.models import Tenant
    from apps.tickets.models import Ticket
    from apps.tickets.search import compile_search

    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        sys.exit(f"No tenant {slug!r}: run bench/tickets_seed.py first.")
    with schema_context(tenant.schema_name):
        total = Ticket.objects.count()
        if total < 1000:
            sys.exit(f"Tenant {slug!r} has {total} tickets: run bench/tickets_seed.py first.")
        agent = User.objects.get(email=f"agent0@{slug}.test")
        requester = User.objects.get(email=f"requester0@{slug}.test")
        team = Team.objects.get(name="Service Desk")
        with connection.cursor() as cursor:
            # A word of middling frequency (about 2-4 % of tickets), taken from a sample.
            cursor.execute(
                "SELECT word, ndoc FROM ts_stat('SELECT search_vector FROM tickets_ticket WHERE id <= 3000') "
                "WHERE ndoc BETWEEN 60 AND 120 AND length(word) > 4 ORDER BY ndoc, word LIMIT 1"
            )
            word = cursor.fetchone()[0]
        matches = {}
        with connection.cursor() as cursor:
            for q in (word, "printers", word[:4]):
                cursor.execute("SELECT count(*) FROM tickets_ticket WHERE search_vector_all @@ %s::tsquery",
                               [compile_search(q).tsquery])
                matches[q] = cursor.fetchone()[0]
        return {
            "host": f"{slug}.localhost",
            "agent": token_issue(user=agent).key,
            "requester": token_issue(user=requester).key,
            "team": team.pk,
            "word": word,
            "matches": matches,
            "max_number": Ticket.objects.order_by("-number").values_list("number", flat=True).first(),
            "total": total,
        }


def start_server(port: int, access_log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "60",
        "WARDEN_API_RATE_USER": "1000000/min",
        "WARDEN_API_RATE_IP": "1000000/min",
        "WARDEN_API_RATE_IP_USER": "1000000/min",
        "WARDEN_API_RATE_WRITE": "1000000/min",
    }
    command = [
        str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "sync",
        "--log-level", "warning", "--access-logfile", str(access_log),
        # status and the worker's own time for the request, in microseconds
        "--access-logformat", "%(s)s %(D)s",
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


def call(port: int, host: str, token: str, method: str, path: str, body: dict | None = None) -> tuple[float, int, bytes]:
    headers = {"Host": host, "Authorization": f"Token {token}", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    content = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    conn.close()
    return elapsed, response.status, content


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slug", default="bench-tickets")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    ctx = prepare(args.slug)
    rng = random.Random(7)  # noqa: S311 - which ticket to read, not a secret
    # A keyset cursor halfway through the P3 tickets (thousands share that priority): a
    # page there costs what the first page costs.
    from apps.core.keyset import Cursor
    from apps.tickets.keyset import ORDERINGS

    deep = Cursor("P3", ctx["max_number"] // 2, False).encode(ORDERINGS["priority"])
    filtered = urlencode(
        [("status", "open"), ("status", "pending"), ("priority", "P2"), ("team", ctx["team"]), ("q", ctx["word"])]
    )
    scenarios = {
        "list": lambda i: ("agent", "GET", "/api/v1/tickets/", None),
        "list, 3 filters + q": lambda i: ("agent", "GET", f"/api/v1/tickets/?{filtered}", None),
        "text search (q)": lambda i: ("agent", "GET", f"/api/v1/tickets/?q={ctx['word']}", None),
        "by priority, deep cursor": lambda i: ("agent", "GET", f"/api/v1/tickets/?ordering=priority&cursor={deep}", None),
        "list (requester, own)": lambda i: ("requester", "GET", "/api/v1/tickets/", None),
        "search: printers (forms)": lambda i: ("agent", "GET", "/api/v1/tickets/?q=printers", None),
        "search: prefix": lambda i: ("agent", "GET", f"/api/v1/tickets/?q={ctx['word'][:4]}", None),
        "search: #number": lambda i: ("agent", "GET",
                                      f"/api/v1/tickets/?{urlencode({'q': '#' + str(rng.randint(1, ctx['max_number']))})}",
                                      None),
        "search (requester, own)": lambda i: ("requester", "GET", "/api/v1/tickets/?q=printers", None),
        "detail": lambda i: ("agent", "GET", f"/api/v1/tickets/{rng.randint(1, ctx['max_number'])}/", None),
        "create": lambda i: ("agent", "POST", "/api/v1/tickets/",
                             {"title": f"Bench ticket {i}", "description": "The **printer** is jammed again.",
                              "impact": 2, "urgency": 1}),
    }
    found = ", ".join(f"q={q!r} matches {n}" for q, n in ctx["matches"].items())
    print(f"tenant {args.slug}: {ctx['total']} tickets; {found} tickets (agents' text, word forms included)")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    access_log = Path(tempfile.mkdtemp(prefix="warden-bench-")) / "access.log"
    server = start_server(args.port, access_log)
    results: dict[str, tuple[list[float], list[float]]] = {}
    try:
        for name, make in scenarios.items():
            for i in range(20):  # warm-up: imports, connections, caches, plans
                who, method, path, body = make(-i - 1)
                call(args.port, ctx["host"], ctx[who], method, path, body)
            time.sleep(0.2)
            logged_before = len(access_log.read_text().splitlines())
            times = []
            for i in range(args.n):
                who, method, path, body = make(i)
                elapsed, status, content = call(args.port, ctx["host"], ctx[who], method, path, body)
                if status not in (200, 201):
                    raise SystemExit(f"{name}: HTTP {status}: {content[:300]!r}")
                times.append(elapsed)
            time.sleep(0.2)  # let gunicorn flush its access log
            lines = access_log.read_text().splitlines()[logged_before:logged_before + args.n]
            server_times = [int(line.split()[1]) / 1000 for line in lines]
            results[name] = (server_times, times)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("server = gunicorn worker's time per request; client = round trip seen by this script")
    print(f"{'scenario':<26} {'n':>4} {'server p50':>10} {'server p95':>10} {'client p50':>10} {'client p95':>10}"
          f" {'target p95':>12}")
    for name, (server_times, times) in results.items():
        target = TARGETS_MS.get(name)
        p95 = percentile(server_times, 0.95)
        verdict = "" if target is None else (f"< {target} ok" if p95 < target else f"< {target} MISSED")
        print(f"{name:<26} {len(server_times):>4} {percentile(server_times, 0.5):>10.1f} {p95:>10.1f}"
              f" {percentile(times, 0.5):>10.1f} {percentile(times, 0.95):>10.1f} {verdict:>12}")


if __name__ == "__main__":
    main()
