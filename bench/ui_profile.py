"""Where a desk page's or an API create's time goes: cProfile over in-process requests.

    .venv/bin/python bench/tickets_seed.py                 # once: 100k tickets
    .venv/bin/python bench/ui_agent.py -n 20               # once: gives the tickets SLA clocks
    .venv/bin/python bench/ui_profile.py [--page queue|ticket|create] [-n 100] [--slug bench-tickets]

Runs the page N times through Django's test client (local settings, DEBUG off, the same
middleware as the server; no network, no gunicorn) after a warm-up, and prints:
- the mean in-process time per request, and the part spent in SQL (the statements are
  timed by a connection wrapper, not logged);
- the 30 costliest functions by cumulative time, Warden's code and Django's template
  engine (`BENCH_PROFILE_SORT` / `BENCH_PROFILE_FILTER` as in bench/notifications.py).
The figures are for finding the cost, not for the targets: bench/ui_agent.py and
bench/tickets_api.py measure those over real HTTP.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "false"

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402
from environment import describe  # noqa: E402


class SqlTimer:
    def __init__(self):
        self.seconds = 0.0
        self.statements = 0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.statements += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--page", choices=["queue", "ticket", "create"], default="queue")
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--slug", default="bench-tickets")
    args = parser.parse_args()
    print(describe())

    from apps.accounts.models import User
    from apps.tenants.models import Tenant
    from apps.tickets.models import Ticket

    tenant = Tenant.objects.filter(slug=args.slug).first()
    if tenant is None:
        sys.exit(f"No tenant {args.slug!r}: run bench/tickets_seed.py first.")
    host = f"{args.slug}.localhost"
    client = Client(HTTP_HOST=host)
    with schema_context(tenant.schema_name):  # the session lives in the tenant's schema
        agent = User.objects.get(email=f"agent0@{args.slug}.test")
        numbers = list(Ticket.objects.order_by("?").values_list("number", flat=True)[:500])
        client.force_login(agent, backend="django.contrib.auth.backends.ModelBackend")
    rng = random.Random(7)  # noqa: S311 - which ticket to read, not a secret
    counter = iter(range(10**9))

    def request():
        if args.page == "queue":
            response = client.get("/desk/")
        elif args.page == "ticket":
            response = client.get(f"/desk/tickets/{rng.choice(numbers)}/")
        else:
            response = client.post("/api/v1/tickets/", {
                "title": f"Profiled ticket {next(counter)}", "description": "The **printer** is jammed again.",
                "impact": 2, "urgency": 1}, content_type="application/json")
        if response.status_code not in (200, 201):
            sys.exit(f"{args.page}: HTTP {response.status_code}: {response.content[:300]!r}")

    for _ in range(20):
        request()
    connection.set_schema_to_public()
    timer = SqlTimer()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    with connection.execute_wrapper(timer):
        profiler.enable()
        for _ in range(args.n):
            request()
        profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"{args.page}: {args.n} requests in-process, mean {elapsed / args.n * 1000:.1f} ms under the profiler, "
          f"SQL {timer.seconds / args.n * 1000:.1f} ms in {timer.statements / args.n:.1f} statements per request")
    stats = pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative"))
    stats.print_stats(os.environ.get("BENCH_PROFILE_FILTER", r"apps/|config/|django/template/(base|defaulttags|loader_tags)"), 30)
    if args.page == "create":
        with schema_context(tenant.schema_name):
            Ticket.objects.filter(title__startswith="Profiled ticket ").delete()


if __name__ == "__main__":
    main()
