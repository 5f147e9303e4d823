"""A real Celery worker, against the test database and Redis: tasks carry their tenant."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import schema_context

from apps.core.tasks import ping

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(django_db_setup, django_db_blocker, tmp_path):
    db = settings.DATABASES["default"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "WARDEN_WORKER_METRICS_PORT": str(metrics_port),
    }
    log = tmp_path / "worker.log"
    queue = f"test-{uuid.uuid4().hex[:8]}"  # our own queue: other workers on this broker never take our messages
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "--pool", "solo",
             "--without-heartbeat", "--without-mingle", "--without-gossip", "-n", f"{queue}@%h", "-Q", queue],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "ready" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        assert "ready" in log.read_text(), log.read_text()
        yield log, metrics_port, queue
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _wait_for(key: str, schema: str, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with schema_context(schema):
            value = cache.get(key)
        if value is not None:
            return value
        time.sleep(0.1)
    return None


@pytest.mark.slow
def test_real_worker_runs_tenant_tasks_in_their_tenant_and_refuses_tenantless_ones(worker, django_db_blocker):
    worker, metrics_port, queue = worker
    token = uuid.uuid4().hex
    with django_db_blocker.unblock():
        with schema_context("t_alpha"):
            ping.apply_async(args=[token], queue=queue)
        assert _wait_for(f"core.ping:{token}", "t_alpha") == "t_alpha"
        with schema_context("t_beta"):
            assert cache.get(f"core.ping:{token}") is None

        # A message without the tenant header (e.g. from an old client) is refused by the worker.
        orphan = uuid.uuid4().hex
        connection.set_schema_to_public()
        from config.celery import app

        app.send_task("core.ping", args=[orphan], headers={"_schema_name": "public"}, queue=queue)
        deadline = time.monotonic() + 20
        while "arrived without a tenant" not in worker.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "refused to run tenant task core.ping" in worker.read_text()
        assert _wait_for(f"core.ping:{orphan}", "public", seconds=0.5) is None

    metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()  # noqa: S310
    assert 'warden_celery_tasks_total{outcome="success",task="core.ping"} 1.0' in metrics
