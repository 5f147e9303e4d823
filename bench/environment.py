"""What a benchmark ran with: the database's durability settings and the machine's load.

Figures mean little without them: `fsync`, `synchronous_commit` and `full_page_writes` off
make every write several times cheaper than on a durable server, and on a shared 2-core
machine other work inflates every time. Every script prints `describe()` before its
figures and `load_line()` with each of them. The local PostgreSQL of `make services`
(demo and benchmarks) is durable; only `make test` starts it without those guarantees
(scripts/services.sh --fast), and a script says so in capitals when it runs against that.
"""

from __future__ import annotations

import os

DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def database_settings(cursor=None) -> dict[str, str]:
    """The server's version and durability settings, through `cursor` (any DB-API cursor)
    or Django's default connection."""
    if cursor is None:
        from django.db import connection

        with connection.cursor() as own:
            return database_settings(own)
    values = {}
    for name in ("server_version", *DURABILITY, "shared_buffers"):
        cursor.execute(f"SHOW {name}")
        values[name] = str(cursor.fetchone()[0])
    return values


def describe(cursor=None) -> str:
    values = database_settings(cursor)
    durable = all(values[name] == "on" for name in DURABILITY)
    settings = ", ".join(f"{name}={values[name]}" for name in (*DURABILITY, "shared_buffers"))
    verdict = "durable" if durable else "NOT DURABLE: writes are cheaper than in production"
    return f"PostgreSQL {values['server_version']}: {settings} ({verdict}); {load_line()}"
