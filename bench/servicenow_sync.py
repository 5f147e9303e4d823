"""The ServiceNow connector against the fake Table API: first import, incremental polls,
write-back throughput.

    .venv/bin/python bench/servicenow_sync.py [--incidents 100000] [--changed 0.01] [--writes 1000] [--page 1000]

Works in a throwaway database `bench_snow_<pid>` (SNOW_BENCH_DB=<name> reuses and keeps
one) with one tenant provisioned as any new tenant is (default SLA policies included,
metadata-only mode), and the fake ServiceNow (`python -m fakes.servicenow`) started as a
separate process on 127.0.0.1 (its own interpreter: its JSON work does not compete for
this process's GIL), seeded through its control endpoint. The connector is a real one
(`connector_create`, bearer token, loopback allowed for the run) and every call goes
through `ConnectorClient` (guard, breaker in Redis, call records, metering). Prints,
with the load average:

1. **First import** of `--incidents` incidents (target >= 1,000 incidents/s): polls run
   back to back until the watermark has caught up, `--page` incidents per page; each
   page is one transaction: links, tickets through `ticket_import_many` (one policy
   decision, one audit event and one `ticket.imported` event per page, SLA clocks in
   bulk), the watermark. Wall time from the first request to the last commit.
2. **Incremental poll** after `--changed` of the incidents changed in ServiceNow
   (target < 2 s for 1 %), twice: (a) a work note added to each (the ticket's mapped
   fields unchanged: only the links move on), (b) the urgency changed too (each ticket
   updated through `ticket_update`: policy, audit event, `ticket.changed`, SLA clocks
   re-targeted). Both re-read the overlap window (120 s of records) as well.
3. **Write-back throughput**, `--writes` write-backs (a priority each, on distinct
   tickets) by an agent: `decide()` (a rule with an approval and a per-connector cap
   obligation, the cap raised for the run), the daily cap count under the connector's
   lock, the idempotency key, the sys_mod_count read (GET), the PATCH, the record and its
   audit event (target >= 100 writes/s); once in one process, one write after the other,
   and once spread over `--workers` processes (as Celery workers would run them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from environment import describe, load_line  # noqa: E402
from throwaway_db import ROOT, drop_database, open_database  # noqa: E402

SLUG = "bench-snow"
TOKEN = "bench-servicenow-token"  # noqa: S105 - the fake's, on loopback


def start_fake() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "fakes.servicenow", "--port", "0", "--token", TOKEN],  # noqa: S603
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    return process, json.loads(line)["url"]


def control(url: str, path: str, body=None, method: str = "POST") -> dict:
    import requests

    answer = requests.request(method, f"{url}/_fake/{path}", json=body, timeout=600)
    answer.raise_for_status()
    return answer.json()


def setup_tenant():
    from django.db import connection

    from apps.tenants.models import Tenant
    from apps.tenants.services import tenant_provision

    connection.set_schema_to_public()
    tenant = Tenant.objects.filter(slug=SLUG).first() or tenant_provision(
        slug=SLUG, name="ServiceNow bench", region="eu", admin_email=f"admin@{SLUG}.test"
    ).tenant
    connection.set_tenant(tenant)
    return tenant


def setup_connector(url: str):
    from django.conf import settings

    from apps.accounts.models import Role, User
    from apps.connectors.models import Connector
    from apps.connectors.services.connectors import connector_create
    from apps.policies.baseline import BASELINE_RULES
    from apps.policies.services import policy_publish

    settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK = True
    admin = User.objects.get(role=Role.ADMIN)
    rules = json.loads(json.dumps(BASELINE_RULES))
    for rule in rules:  # the same rule with its approval and cap obligations, the cap raised for the run
        if rule["action"] == "connector.write":
            rule["obligations"]["cap"]["limit"] = 1_000_000
    policy_publish(actor=admin, rules=rules, comment="bench: connector write cap raised")
    existing = Connector.objects.filter(name="bench").first()
    if existing is not None:  # a reused database (SNOW_BENCH_DB): point it at this run's fake
        from apps.connectors.services.connectors import connector_update

        return connector_update(actor=admin, connector=existing, base_url=url, secret=TOKEN)
    return connector_create(actor=admin, kind="servicenow", name="bench", base_url=url, auth_scheme="bearer",
                            secret=TOKEN, dry_run=False, daily_write_cap=100_000)


def poll_until_done(connector, page: int):
    from apps.connectors.servicenow.services import servicenow_poll

    totals = {"pages": 0, "imported": 0, "updated": 0, "unchanged": 0, "fetched": 0, "runs": 0}
    while True:
        result = servicenow_poll(connector=connector, max_pages=100_000, run_seconds=3600, page_size=page)
        if result.error or result.skipped:
            raise SystemExit(f"poll failed: {result.error or result.skipped}")
        totals["runs"] += 1
        for key in ("pages", "imported", "updated", "unchanged", "fetched"):
            totals[key] += getattr(result, key)
        if not result.more:
            return totals


def first_import(url: str, connector, incidents: int, page: int) -> None:
    started = time.perf_counter()
    control(url, "seed", {"count": incidents, "step_seconds": 0.5})
    print(f"   (fake seeded with {incidents:,} incidents in {time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    totals = poll_until_done(connector, page)
    seconds = time.perf_counter() - started
    print(f"\n1. First import ({load_line()})")
    print(f"   {totals['imported']:,} incidents imported in {seconds:.1f} s ({totals['pages']} pages of {page}, "
          f"{totals['runs']} run(s)): {totals['imported'] / seconds:,.0f} incidents/s (target >= 1,000/s)")


def incremental(url: str, connector, fraction: float, page: int) -> None:
    print(f"\n2. Incremental poll, {fraction:.0%} of the incidents changed ({load_line()})")
    for label, fields in (("(a) a work note each", {"work_notes": "bench note"}),
                          ("(b) the urgency changed too", None)):
        changed = control(url, "change", {"fraction": fraction, **({"fields": fields} if fields else {})})["changed"]
        time.sleep(1.1)  # the poll reads up to the second it starts: let the changes' second pass
        started = time.perf_counter()
        totals = poll_until_done(connector, page)
        seconds = time.perf_counter() - started
        print(f"   {label}: {changed:,} changed; one poll read {totals['fetched']:,} records in {totals['pages']} "
              f"page(s), applied {totals['updated']:,} changes ({totals['unchanged']:,} re-read unchanged) in "
              f"{seconds:.2f} s (target < 2 s)")


def _write(ticket_ids: list[int], agent_id: int, schema: str, queue=None) -> dict[str, int]:
    from django.db import connection

    from apps.accounts.models import User
    from apps.connectors.servicenow.services import writeback_request
    from apps.tenants.models import Tenant
    from apps.tickets.models import Ticket

    connection.set_tenant(Tenant.objects.get(schema_name=schema))
    agent = User.objects.get(pk=agent_id)
    statuses: dict[str, int] = {}
    for ticket in Ticket.objects.filter(pk__in=ticket_ids).order_by("pk"):
        row = writeback_request(actor=agent, ticket=ticket, changes={"priority": "2"})
        statuses[str(row.status)] = statuses.get(str(row.status), 0) + 1
    if queue is not None:
        queue.put(statuses)
    return statuses


def writebacks(connector, count: int, workers: int) -> None:
    import multiprocessing

    from django.db import connection, connections

    from apps.accounts.models import Role, User
    from apps.accounts.services import user_create
    from apps.connectors.servicenow.models import IncidentLink, WriteBack

    agent = User.objects.filter(role=Role.AGENT).first() or user_create(
        email=f"agent@{SLUG}.test", role=Role.AGENT, password=None, validate=False)
    schema = connection.schema_name
    done_ids = set(WriteBack.objects.values_list("ticket_id", flat=True))
    ids = [pk for pk in IncidentLink.objects.order_by("pk").values_list("ticket_id", flat=True) if pk not in done_ids]
    _write(ids[:20], agent.pk, schema)  # warm-up
    print(f"\n3. Write-back throughput, {count:,} write-backs ({load_line()})")
    start = 20
    for processes in sorted({1, workers}):
        batch, start = ids[start:start + count], start + count
        connections.close_all()
        started = time.perf_counter()
        if processes == 1 and os.environ.get("BENCH_PROFILE_SORT"):  # where a write-back's time goes
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            statuses = profiler.runcall(_write, batch, agent.pk, schema)
            pstats.Stats(profiler).sort_stats(os.environ["BENCH_PROFILE_SORT"]).print_stats(25)
        elif processes == 1:
            statuses = _write(batch, agent.pk, schema)
        else:
            context = multiprocessing.get_context("fork")
            queue = context.Queue()
            children = [context.Process(target=_write, args=(batch[i::processes], agent.pk, schema, queue))
                        for i in range(processes)]
            for child in children:
                child.start()
            results = [queue.get(timeout=3600) for _ in children]
            for child in children:
                child.join()
            statuses = {}
            for result in results:
                for key, value in result.items():
                    statuses[key] = statuses.get(key, 0) + value
        seconds = time.perf_counter() - started
        done = sum(statuses.values())
        print(f"   {processes} worker process(es): {done:,} in {seconds:.1f} s: {done / seconds:,.0f} writes/s "
              f"(target >= 100/s); outcomes {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of the incidents changed (0.01 = 1 %%)")
    parser.add_argument("--writes", type=int, default=1000, help="write-backs per run (two runs)")
    parser.add_argument("--page", type=int, default=1000, help="incidents per page (sysparm_limit, <= 1000)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes for the second write-back run")
    args = parser.parse_args()
    name, base, reused = open_database(prefix="bench_snow", reuse_env="SNOW_BENCH_DB")
    process, url = start_fake()
    try:
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        print(describe())
        print(f"fake ServiceNow at {url} (pid {process.pid})")
        setup_tenant()
        connector = setup_connector(url)
        control(url, "requests", {"record": False})
        first_import(url, connector, args.incidents, args.page)
        incremental(url, connector, args.changed, args.page)
        writebacks(connector, args.writes, args.workers)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        process.stdout.close()
        if not reused:
            drop_database(base, name)


if __name__ == "__main__":
    main()
