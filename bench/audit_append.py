"""Audit append throughput per tenant, with 1 and 8 writers (target: at least 2,000 events/s).

    .venv/bin/python bench/audit_append.py [--events N] [--writers 1,8] [--batch 1,10]

Each writer is a process (like a web or Celery worker; forked, so no GIL between
them) with its own database connection that calls the real service,
`apps.audit.services.audit_record`, inside a transaction of its own
(`transaction.atomic()`), `--batch` events per transaction (1: every event commits
alone, the worst case; 10: a business transaction that writes several events). All
writers append to the same throwaway tenant, so they contend for its one chain head:
that lock is what limits throughput. The chain is verified at the end with the real
verifier (the run fails if it is not linear and gapless).
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time

from governance_common import load_line, setup_django, throwaway_tenant

setup_django()

from django.db import connection, transaction  # noqa: E402
from environment import describe  # noqa: E402

from apps.audit.selectors import audit_chain_verify  # noqa: E402
from apps.audit.services import audit_record  # noqa: E402


def _writer(tenant, count: int, batch: int, barrier) -> None:
    connection.set_tenant(tenant)
    payload = {"ticket": 0, "from": "new", "to": "open", "note": "benchmark"}
    with connection.cursor() as cursor:  # connect before the clock starts
        cursor.execute("SELECT 1")
    barrier.wait()
    done = 0
    while done < count:
        with transaction.atomic():
            for _ in range(min(batch, count - done)):
                payload["ticket"] = done
                audit_record(actor=None, action="bench.appended", payload=payload)
                done += 1
    connection.close()


def run(tenant, *, events: int, writers: int, batch: int, threads: bool = False) -> float:
    per_writer = events // writers
    if threads:  # one process, a connection per thread (Django's connections are per thread)
        barrier = threading.Barrier(writers + 1)
        workers = [threading.Thread(target=_writer, args=(tenant, per_writer, batch, barrier)) for _ in range(writers)]
        for worker in workers:
            worker.start()
        barrier.wait(timeout=60)
        started = time.perf_counter()
        for worker in workers:
            worker.join()
        return per_writer * writers / (time.perf_counter() - started)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(writers + 1)
    connection.close()  # children must not share the parent's socket
    processes = [context.Process(target=_writer, args=(tenant, per_writer, batch, barrier)) for _ in range(writers)]
    for process in processes:
        process.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise SystemExit(f"{len(failed)} writer(s) failed (exit codes {failed})")
    return per_writer * writers / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=8000, help="events per run (default 8000)")
    parser.add_argument("--writers", default="1,8", help="comma-separated writer counts (default 1,8)")
    parser.add_argument("--batch", default="1,10", help="comma-separated events per transaction (default 1,10)")
    parser.add_argument("--threads", action="store_true", help="writers are threads of one process, not processes")
    args = parser.parse_args()
    writer_counts = [int(x) for x in args.writers.split(",")]
    batches = [int(x) for x in args.batch.split(",")]
    with throwaway_tenant("bench-audit") as tenant:
        print(describe())
        run(tenant, events=min(500, args.events), writers=1, batch=1)  # warm-up
        kind = "threads of one process" if args.threads else "processes"
        print(f"audit_record throughput, tenant {tenant.schema_name}, {args.events} events per run, writers are {kind}")
        for batch in batches:
            for writers in writer_counts:
                rate = run(tenant, events=args.events, writers=writers, batch=batch, threads=args.threads)
                print(f"  writers={writers:<2} events/transaction={batch:<3} {rate:8.0f} events/s", flush=True)
        connection.set_tenant(tenant)
        result = audit_chain_verify()
        print(f"  chain after the runs: {result.line()}")
        if not result.ok:
            raise SystemExit(1)
    print(f"  {load_line()}")


if __name__ == "__main__":
    main()
