"""How long does creating a tenant take in a warm process? (target: under 1 s)

    .venv/bin/python bench/provision.py [N]

Provisions N throwaway tenants through the same service as `provision_tenant`, prints
per-tenant seconds (p50, max) next to the migration count, then drops them.
"""

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from apps.tenants import schema as schemas  # noqa: E402
from apps.tenants.models import Domain, Tenant  # noqa: E402
from apps.tenants.services import tenant_provision  # noqa: E402


def main(n: int) -> None:
    slugs = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(n + 1)]
    timings = []
    try:
        for i, slug in enumerate(slugs):
            started = time.perf_counter()
            tenant_provision(slug=slug, name="Bench", region="eu", admin_email=f"admin@{slug}.test")
            if i:  # the first one warms the process (imports, migration list)
                timings.append(time.perf_counter() - started)
    finally:
        connection.set_schema_to_public()
        for tenant in Tenant.objects.filter(slug__in=slugs):
            with connection.cursor() as cur:
                cur.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
            Domain.objects.filter(tenant=tenant).delete()
            tenant.delete()
    migrations = len(schemas._migrations_on_disk())
    print(f"provision_tenant, warm process, {n} tenants, {migrations} migrations on disk")
    print(f"  p50 {statistics.median(timings):.3f} s   max {max(timings):.3f} s   mean {statistics.mean(timings):.3f} s")
    third = max(1, len(timings) // 3)
    first, last = statistics.mean(timings[:third]), statistics.mean(timings[-third:])
    print(f"  first third mean {first:.3f} s   last third mean {last:.3f} s")
    print(f"  load average at the end: {os.getloadavg()[0]:.2f} (2 cores; other work inflates the figures)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
