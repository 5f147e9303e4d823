"""Real processes for the tests that need them: a private Redis that a test can stop and
start again, and Celery workers and beat running against the test database.

Each test that starts processes gives them a Redis of their own (`private_redis` in
tests/conftest.py), so no other test session's worker can take its messages, nor its
worker theirs. Every wait is bounded in time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, seconds: float, *logs: Path, what: str = "", every: float = 0.2) -> float:
    """Poll `predicate` until it is true; returns the seconds it took. Fails with the
    tail of `logs` after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():
            return time.monotonic() - started
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}\n" + tails(*logs))


def tails(*logs: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text()[-5000:]}" for log in logs if log.exists())


def count_lines(log: Path, *needles: str) -> int:
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if all(n in line for n in needles))


class RedisServer:
    """redis-server on a free loopback port, data in `directory`; stop() and start() keep
    the port (what clients reconnect to)."""

    def __init__(self, directory: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise AssertionError("redis-server is not installed (`make test` installs it through scripts/services.sh)")
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait(self.answers, 10, what=f"redis-server on port {self.port}", every=0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
        wait(lambda: not self.answers(), 10, what="redis-server to stop", every=0.05)


def celery_env(broker: str, **extra: str) -> dict[str, str]:
    """The environment of a worker or beat process against this session's test database."""
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE") or "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "WARDEN_WORKER_METRICS_PORT": str(free_port()),
        **extra,
    }


def start_celery(args: list[str], env: dict[str, str], log: Path, app: str = "config") -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", app, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def start_worker(env: dict[str, str], log: Path, *, app: str = "config", name: str = "test") -> subprocess.Popen:
    """A solo worker (one process: what a SIGKILL takes down is the task's own process)."""
    args = ["worker", "-l", "info", "--pool", "solo", "--without-heartbeat", "--without-mingle", "--without-gossip",
            "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h"]
    proc = start_celery(args, env, log, app=app)
    try:
        wait(lambda: " ready." in log.read_text() and proc.poll() is None, 40, log, what="the worker")
    except BaseException:
        stop(proc)
        raise
    return proc


def start_beat(env: dict[str, str], log: Path, directory: Path) -> subprocess.Popen:
    scheduler = "django_celery_beat.schedulers:DatabaseScheduler"
    proc = start_celery(["beat", "-l", "info", "-S", scheduler, "--pidfile", str(directory / f"beat-{uuid.uuid4().hex}.pid")],
                        env, log)
    try:
        wait(lambda: "beat: Starting" in log.read_text() and proc.poll() is None, 40, log, what="beat")
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
