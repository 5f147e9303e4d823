"""gunicorn for the HTTP benchmarks, and the side-by-side run against a baseline checkout.

`bench/ui_agent.py` and `bench/tickets_api.py` start Warden under gunicorn on 127.0.0.1
and read each request's server time from gunicorn's access log (`%(D)s`, keyed by the
`X-Bench-Id` header the script sends). With `--baseline PATH` (another checkout of
Warden, e.g. `git worktree add /tmp/perf-baseline <ref>` with `.venv` symlinked) they
start two servers on the same database, the baseline's and this checkout's, and send
every request of a scenario to both, alternating which goes first (A B, B A, A B, ...),
so that the load of the machine, the database's caches and the tenant's growth weigh
on both alike; one table then prints both p50/p95.

A helper, not a benchmark: it prints nothing of its own.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACCESS_FORMAT = "%({x-bench-id}i)s %(s)s %(D)s"  # bench id, status, request time in microseconds
BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.local",
    "DEBUG": "false",
    "LOG_LEVEL": "WARNING",
    "CONN_MAX_AGE": "60",
}


@dataclass
class Server:
    """One gunicorn serving the checkout at `root`."""

    label: str
    root: Path
    port: int
    access_log: Path
    process: subprocess.Popen | None = None
    sent: dict[str, list[str]] = field(default_factory=dict)  # scenario -> bench ids

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        if not (self.root / "config" / "wsgi.py").exists():
            sys.exit(f"{self.root} is not a Warden checkout (no config/wsgi.py)")
        gunicorn = self.root / ".venv/bin/gunicorn"
        if not gunicorn.exists():
            sys.exit(f"{gunicorn} is missing: symlink the project's .venv into {self.root}")
        self.access_log.touch()
        env = {**os.environ, **BENCH_ENV, **(extra_env or {})}
        command = [
            str(gunicorn), "config.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--worker-class", "sync",
            "--log-level", "warning", "--access-logfile", str(self.access_log), "--access-logformat", ACCESS_FORMAT,
        ]
        # cwd: gunicorn imports config.wsgi (and reads gunicorn.conf.py) from the checkout.
        self.process = subprocess.Popen(command, cwd=self.root, env=env)  # noqa: S603 - our own command line
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health/", headers={"Host": "localhost"})
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        sys.exit(f"gunicorn ({self.label}, {self.root}) did not come up")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def server_times(self, timeout: float = 10.0) -> dict[str, float]:
        expected = {i for ids in self.sent.values() for i in ids}
        return read_server_times(self.access_log, expected, timeout)


def servers(scratch: Path, port: int, baseline: Path | None) -> list[Server]:
    """This checkout's server, preceded by the baseline's (on port + 1) when given."""
    current = Server("new" if baseline else "this", ROOT, port, scratch / "access-new.log")
    if baseline is None:
        return [current]
    return [Server("baseline", baseline.resolve(), port + 1, scratch / "access-baseline.log"), current]


def interleaved(servers_: list[Server], n: int):
    """(i, server) for i in range(n), every server once per i, the order alternating."""
    for i in range(n):
        order = servers_ if i % 2 == 0 else list(reversed(servers_))
        for server in order:
            yield i, server


def read_server_times(access_log: Path, expected: set[str], timeout: float = 10.0) -> dict[str, float]:
    """Bench id -> gunicorn's request time in ms, from the access log (lines arrive when a
    worker finishes a request; wait a little for the last ones)."""
    deadline = time.monotonic() + timeout
    times: dict[str, float] = {}
    while True:
        times.clear()
        for line in access_log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] in expected and parts[2].isdigit():
                times[parts[0]] = int(parts[2]) / 1000
        if len(times) == len(expected) or time.monotonic() > deadline:
            return times
        time.sleep(0.1)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def git_describe(root: Path) -> str:
    """The commit a checkout is at (and '+changes' when its work tree differs)."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],  # noqa: S603, S607
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],  # noqa: S603, S607
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + (" +changes" if dirty else "")


def table(rows: dict[str, dict[str, list[float]]], labels: list[str], targets: dict[str, float]) -> str:
    """scenario -> label -> server times (ms): n, p50/p95 per server, the target and whether
    the last server (this checkout) meets it."""
    head = f"{'scenario':<30} {'n':>4}"
    for label in labels:
        head += f" {label + ' p50':>13} {'p95':>7}"
    head += f" {'target p95':>15}"
    lines = [head]
    for name, by_label in rows.items():
        line = f"{name:<30} {len(by_label[labels[-1]]):>4}"
        for label in labels:
            times = by_label[label]
            line += f" {percentile(times, 0.5):>13.1f} {percentile(times, 0.95):>7.1f}"
        target = targets.get(name)
        if target is not None:
            ok = percentile(by_label[labels[-1]], 0.95) <= target
            line += f" {f'<= {target} ' + ('ok' if ok else 'MISSED'):>15}"
        lines.append(line)
    return "\n".join(lines)


def report(running: list[Server], server_times: dict[str, dict[str, float]],
           client_times: dict[str, dict[str, list[float]]], *, n: int, targets: dict[str, float],
           interleaved: bool) -> None:
    """Print the server-time table (from each server's access log, by the ids it was sent),
    the client-time table, the load and the database settings. Every request must be in
    its server's log: a missing one would make the percentiles lie."""
    from environment import describe, load_line

    labels = [server.label for server in running]
    rows: dict[str, dict[str, list[float]]] = {}
    for name in client_times:
        rows[name] = {}
        for server in running:
            times = server_times[server.label]
            rows[name][server.label] = [times[i] for i in server.sent[name] if i in times]
            if len(rows[name][server.label]) != n:
                raise SystemExit(f"{name}: the access log of {server.label} has "
                                 f"{len(rows[name][server.label])} of {n} requests")
    print("\nserver time (gunicorn's request time), ms" + (", requests interleaved" if interleaved else ""))
    print(table(rows, labels, targets))
    print("\nclient time (loopback round trip), ms")
    print(table(client_times, labels, {}))
    print(f"({load_line()})")
    print(describe())
