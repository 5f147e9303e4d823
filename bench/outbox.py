"""The event outbox: what it adds to a write, how fast the relay delivers, how fast a backlog
is caught up.

    .venv/bin/python bench/outbox.py [-n 400] [--throughput 20000] [--backlog 100000]

Works in a throwaway database `bench_outbox_<pid>` (OUTBOX_BENCH_DB=<name> reuses and keeps
one) with one tenant provisioned as any new tenant is (default SLA policies included), a
no-op subscriber `bench.noop` on every event type, rate limits lifted. Prints, with the
load average:

1. **API ticket create**, `POST /api/v1/tickets/` through Django's test client (policy
   decision, audit event, SLA clocks, response), server-side time, p50/p95 over `-n`
   requests per mode, the modes interleaved in blocks of 25 in one run:
   * *without the outbox*: `emit()` replaced by its in-transaction part only (the SLA
     clocks still follow the ticket, as the services did before the outbox: no event row,
     no delivery, no kick);
   * *with the outbox, kick sent*: the event row and its delivery written, the relay
     kicked after commit (Redis SET NX plus a Celery message on the local Redis): what
     every write costs when the relay is idle;
   * *with the outbox, kick suppressed*: as above while a relay is already queued (the
     flag is set: one Redis round trip, no message): what writes cost under load.
   Target: the outbox adds < 2 ms at p95. The database's durability settings (fsync,
   synchronous_commit, full_page_writes) are printed first: every write pays a commit.
2. **Relay throughput** on one worker process with a no-op subscriber: `--throughput`
   pending deliveries worked off by the `events.relay` task's code (`tasks.relay.run()`,
   run back to back as the worker does when a run hands over): deliveries per second.
   Target >= 1,000/s.
3. **Catch-up after an outage**: `--backlog` events written while no worker ran (each with
   a delivery to the no-op subscriber), then worked off from the first relay run to an
   empty queue. Target < 2 min for 100,000.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from environment import describe, load_line  # noqa: E402
from throwaway_db import drop_database, open_database  # noqa: E402

SLUG = "bench-outbox"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def setup_tenant():
    from django.db import connection

    from apps.tenants.models import Tenant
    from apps.tenants.services import tenant_provision

    connection.set_schema_to_public()
    tenant = Tenant.objects.filter(slug=SLUG).first() or tenant_provision(
        slug=SLUG, name="Outbox bench", region="eu", admin_email=f"admin@{SLUG}.test"
    ).tenant
    connection.set_tenant(tenant)
    return tenant


def register_noop() -> None:
    from apps.events.consumers import CONSUMERS, Subscriber, register_subscriber
    from apps.events.types import EVENT_TYPES

    if "bench.noop" not in CONSUMERS.subscribers:
        register_subscriber(
            Subscriber(name="bench.noop", event_types=frozenset(EVENT_TYPES.names()), handle=lambda event, delivery: None)
        )


def handlers_only(event, *, actor=None, instances=()):
    """emit() minus the outbox: what the services did before it (the SLA hooks inline)."""
    from apps.events.consumers import CONSUMERS, EmitContext
    from apps.events.types import validate

    validate(event)
    loaded = {(type(obj), obj.pk): obj for obj in instances}
    for handler in CONSUMERS.handlers_for(event.event_type):
        handler.handle(event, EmitContext(event_id=0, actor=actor, instances=loaded))
    return 0


EMITTERS = ("apps.tickets.services.tickets", "apps.tickets.services.common")


def api_create(n: int) -> None:
    import importlib

    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from apps.accounts.models import Role, User
    from apps.accounts.services import token_issue
    from apps.core import redis_client
    from apps.events.services import emit as emit_module
    from apps.events.services.kick import flag_key
    from apps.tenants.services import tenant_domain

    settings.WARDEN_API_RATES = {key: "1000000/min" for key in settings.WARDEN_API_RATES}
    tenant = connection.tenant
    admin = User.objects.get(role=Role.ADMIN)
    client = Client(HTTP_HOST=tenant_domain(tenant.slug), HTTP_AUTHORIZATION=f"Token {token_issue(user=admin).key}")
    modules = [importlib.import_module(name) for name in EMITTERS]
    redis = redis_client.client()
    key = flag_key(tenant.schema_name)

    def mode(name: str) -> None:
        for module in modules:
            module.emit = handlers_only if name == "without the outbox" else emit_module.emit
        if name == "with the outbox, kick suppressed":
            redis.set(key, "1", ex=3600)

    def one(name: str) -> float:
        if name == "with the outbox, kick sent":
            redis.delete(key)  # the relay started since the last write: this commit kicks again
        started = time.perf_counter()
        response = client.post("/api/v1/tickets/", {"title": "Bench ticket", "impact": 2, "urgency": 2},
                               content_type="application/json")
        took = time.perf_counter() - started
        assert response.status_code == 201, response.content
        connection.set_tenant(tenant)
        return took * 1000

    names = ("without the outbox", "with the outbox, kick sent", "with the outbox, kick suppressed")
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up
        mode(name)
        for _ in range(20):
            one(name)
    block = 25
    for _ in range(max(1, n // block)):
        for name in names:
            mode(name)
            times[name].extend(one(name) for _ in range(block))
    for module in modules:
        module.emit = emit_module.emit
    redis.delete(key)
    base = percentile(times[names[0]], 95)
    print(f"\n1. API ticket create, server-side, {len(times[names[0]])} requests per mode, interleaved ({load_line()})")
    for name in names:
        p50, p95 = statistics.median(times[name]), percentile(times[name], 95)
        extra = "" if name == names[0] else f"   outbox adds {p95 - base:+.2f} ms at p95 (target < 2 ms)"
        print(f"   {name:34s} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms{extra}")


def fill_backlog(count: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE events_outboxevent CASCADE")
        cursor.execute(
            "INSERT INTO events_outboxevent (event_type, version, payload, actor_label, request_id, trail, occurred_at) "
            "SELECT 'ticket.created', 1, jsonb_build_object('ticket_id', g, 'requester_id', 1, 'source', 'api', "
            "'team_id', NULL, 'assignee_id', NULL), 'system', '', '{}', now() FROM generate_series(1, %s) AS g",
            [count],
        )
        cursor.execute(
            "INSERT INTO events_delivery (event_id, subscriber, status, attempts, next_attempt_at, last_error, created_at, "
            "updated_at) SELECT id, 'bench.noop', 'pending', 0, now(), '', now(), now() FROM events_outboxevent"
        )
        cursor.execute("VACUUM ANALYZE events_delivery")


def work_off() -> tuple[float, int, int]:
    """Run the relay task's code back to back until nothing is due: (seconds, delivered, runs)."""
    from apps.events import tasks
    from apps.events.services import kick

    kick.send_relay = lambda schema, **options: True  # the loop below is the hand-over
    delivered = runs = 0
    started = time.perf_counter()
    while True:
        outcome = tasks.relay.run()
        delivered += outcome["delivered"]
        runs += 1
        if not outcome["more"]:
            break
    return time.perf_counter() - started, delivered, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=400, help="requests per mode")
    parser.add_argument("--throughput", type=int, default=20_000, help="deliveries for the throughput figure")
    parser.add_argument("--backlog", type=int, default=100_000, help="events for the catch-up figure")
    args = parser.parse_args()
    name, base, reused = open_database(prefix="bench_outbox", reuse_env="OUTBOX_BENCH_DB")
    try:
        print(describe())
        setup_tenant()
        register_noop()
        api_create(args.n)

        fill_backlog(args.throughput)
        seconds, delivered, runs = work_off()
        print(f"\n2. Relay throughput, one worker process, no-op subscriber ({load_line()})")
        print(f"   {delivered:,} deliveries in {seconds:.2f} s in {runs} run(s): {delivered / seconds:,.0f} deliveries/s"
              " (target >= 1,000/s)")

        fill_backlog(args.backlog)
        seconds, delivered, runs = work_off()
        print(f"\n3. Catch-up after an outage ({load_line()})")
        print(f"   {delivered:,} pending events delivered in {seconds:.1f} s, {runs} relay run(s) of <= 30 s each"
              " (target < 120 s for 100,000)")
    finally:
        if not reused:
            drop_database(base, name)


if __name__ == "__main__":
    main()
