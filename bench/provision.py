"""Creating tenants, and what resolving a tenant costs a request.

    .venv/bin/python bench/provision.py [--count 20] [--requests 400]

Runs against the local development database (`make services`, then `make migrate`), or
whatever DATABASE_URL names, with local settings. It never touches other tenants: every
tenant it makes is called `bench-prov-<random>` and is dropped at the end (also on
Ctrl-C, and leftovers of an interrupted run are dropped first). Three figures:

1. **Provisioning** (target: under 1 s per tenant in a warm process): `--count`
   tenants through `tenant_provision`, the service behind `provision_tenant` (clone
   of the base schema, domain, baseline policies, first admin, audit events). The
   first one warms the process and is not counted. p50/max/mean, and the mean of the
   first and last thirds (flat: cloning does not slow down as tenants accumulate).
2. **Flat in the migration count**: the time to build one schema by replaying every
   migration (what provisioning would cost without the clone; it grows with each
   migration added), next to the clone, with the number of migrations on disk.
3. **Tenant resolution** (target: under 1 ms): p50 of `GET /health/` over real HTTP
   against a gunicorn this script starts on 127.0.0.1 (one sync worker, local
   settings), with the Host header of a bench tenant and of the platform host,
   interleaved: gunicorn's own request time (`%(D)s` in its access log) and the round
   trip seen by the client. The difference is what finding the tenant adds.

Figures are wall-clock on whatever else the machine is doing: the load average is
printed with them.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("LOG_LEVEL", "WARNING")  # the figures, not every provisioning log line

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from environment import describe  # noqa: E402

from apps.tenants import schema as schemas  # noqa: E402
from apps.tenants.models import Domain, Tenant  # noqa: E402
from apps.tenants.services import tenant_provision  # noqa: E402

PREFIX = "bench-prov-"
REPLAY_SCHEMA = "bench_prov_replay"


def drop_bench_tenants() -> int:
    """Drop every tenant (schema, domain, row) this script made, and the replay schema."""
    connection.set_schema_to_public()
    dropped = 0
    with connection.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{REPLAY_SCHEMA}" CASCADE')
    for tenant in Tenant.objects.filter(slug__startswith=PREFIX):
        with connection.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
        Domain.objects.filter(tenant=tenant).delete()
        tenant.delete()
        dropped += 1
    return dropped


def provision(count: int) -> tuple[list[float], list[str]]:
    slugs = [f"{PREFIX}{uuid.uuid4().hex[:8]}" for _ in range(count + 1)]
    timings = []
    for i, slug in enumerate(slugs):
        started = time.perf_counter()
        tenant_provision(slug=slug, name="Bench", region="eu", admin_email=f"admin@{slug}.test",
                         actor_label="bench:provision")
        if i:  # the first one warms the process (imports, the migration list)
            timings.append(time.perf_counter() - started)
    return timings, slugs


def replay_all_migrations() -> float:
    """Seconds to build one tenant schema by running every migration (no clone)."""
    connection.set_schema_to_public()
    with connection.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{REPLAY_SCHEMA}" CASCADE; CREATE SCHEMA "{REPLAY_SCHEMA}"')
    started = time.perf_counter()
    call_command("migrate_schemas", "--tenant", f"--schema={REPLAY_SCHEMA}", interactive=False, verbosity=0)
    seconds = time.perf_counter() - started
    connection.set_schema_to_public()
    with connection.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{REPLAY_SCHEMA}" CASCADE')
    return seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, host: str) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/health/", headers={"Host": host})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        conn.close()


def health_latency(tenant_host: str, requests: int, access_log: Path) -> dict[str, list[float]]:
    """`requests` GETs per host, interleaved, against a real gunicorn: the round trips
    seen here ("tenant"/"public") and gunicorn's own request times ("tenant server"/...)."""
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"], "LOG_LEVEL": "WARNING",
           "DEBUG": "false", "CONN_MAX_AGE": "60"}  # as in production: persistent connections
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--log-level", "warning", "--access-logfile", str(access_log),
         # %(D)s: from the request's headers read to the response written, in microseconds
         "--access-logformat", "%({host}i)s %(D)s"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    public_host = settings.WARDEN_BASE_DOMAIN
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise SystemExit(f"gunicorn exited: {server.stderr.read()[-2000:]}")
            try:
                if _get(port, public_host)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not answer within 30 s")
            time.sleep(0.2)
        samples: dict[str, list[float]] = {"tenant": [], "public": []}
        warm_up = 50  # rounds, not counted
        for i in range(warm_up + requests):
            order = [("tenant", tenant_host), ("public", public_host)]
            for kind, host in order if i % 2 else reversed(order):
                status, seconds = _get(port, host)
                if status != 200:
                    raise SystemExit(f"GET /health/ on {host} answered {status}")
                if i >= warm_up:
                    samples[kind].append(seconds)
    finally:
        server.terminate()
        server.wait(timeout=20)
    served = [line.split() for line in access_log.read_text().splitlines() if line.strip()]
    for kind, host in (("tenant", tenant_host), ("public", public_host)):
        times = [int(micros) / 1e6 for name, micros in served if name == host]
        samples[f"{kind} server"] = times[-requests:]  # the last ones: after the warm-up
    return samples


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20, help="tenants to provision (default 20)")
    parser.add_argument("--requests", type=int, default=400, help="GET /health/ per host (default 400)")
    opts = parser.parse_args()

    print(describe())
    connection.set_schema_to_public()
    pending = schemas.pending_base_migrations()
    if pending:
        raise SystemExit(f"the base schema is behind the code ({', '.join(pending[:3])} ...): run `make migrate` first")
    leftovers = drop_bench_tenants()
    if leftovers:
        print(f"dropped {leftovers} tenant(s) left by an interrupted run")
    try:
        timings, slugs = provision(opts.count)
        replay = replay_all_migrations()
        with tempfile.TemporaryDirectory() as folder:
            samples = health_latency(
                f"{slugs[1]}.{settings.WARDEN_BASE_DOMAIN}", opts.requests, Path(folder) / "access.log"
            )
    finally:
        drop_bench_tenants()

    migrations = len(schemas._migrations_on_disk())
    p50 = statistics.median(timings)
    print(f"provisioning, warm process, {len(timings)} tenants (database {settings.DATABASES['default']['NAME']})")
    print(f"  p50 {p50:.3f} s   max {max(timings):.3f} s   mean {statistics.mean(timings):.3f} s   (target < 1 s)")
    third = max(1, len(timings) // 3)
    first, last = statistics.mean(timings[:third]), statistics.mean(timings[-third:])
    print(f"  first third mean {first:.3f} s   last third mean {last:.3f} s")
    print(f"flat in the migration count: {migrations} migrations on disk")
    print(f"  replaying them all into a fresh schema: {replay:.2f} s (grows with every migration)")
    print(f"  cloning the migrated base (p50 above):  {p50:.3f} s ({replay / p50:.0f}x faster; copies tables, runs none)")
    print(f"GET /health/ over HTTP, gunicorn 1 sync worker, {opts.requests} requests per host, interleaved")
    for label, suffix in (("server time (gunicorn)", " server"), ("round trip (client)", "")):
        tenant, public = (statistics.median(samples[kind + suffix]) for kind in ("tenant", "public"))
        print(f"  {label:<23} tenant host p50 {_ms(tenant)}   platform host p50 {_ms(public)}   "
              f"difference {_ms(tenant - public)}")
    print("  (target: the difference, i.e. resolving the tenant, under 1 ms)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other work inflates the figures)")


if __name__ == "__main__":
    main()
