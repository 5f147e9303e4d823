"""The worker's Prometheus endpoint (WARDEN_WORKER_METRICS_PORT) exports real samples once
tasks ran: counts by task and outcome, run-time histograms by task. With a real worker
process in the pools Warden runs (prefork, as `celery -A config worker` and the demo start
it, where tasks run in child processes; and solo), scraped over HTTP like Prometheus does."""

from __future__ import annotations

import re
import urllib.request
import uuid

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.core.tasks import ping
from config.celery import app
from tests.workers import celery_env, start_celery, stop, wait

POOLS = {
    "prefork": ["--pool", "prefork", "--concurrency", "2"],
    "solo": ["--pool", "solo"],
}


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:  # noqa: S310
        return response.read().decode()


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the exposition text (labels in any order), else None."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return None


@pytest.mark.slow
@pytest.mark.parametrize("pool", list(POOLS))
def test_the_worker_exports_task_counts_and_durations(pool, django_db_setup, private_redis, django_db_blocker, tmp_path):
    broker = private_redis.url(0)
    env = celery_env(broker)
    port = int(env["WARDEN_WORKER_METRICS_PORT"])
    log = tmp_path / "worker.log"
    args = ["worker", "-l", "info", *POOLS[pool], "--without-heartbeat", "--without-mingle", "--without-gossip",
            "-n", f"metrics-{uuid.uuid4().hex[:6]}@%h"]
    worker = start_celery(args, env, log)
    try:
        wait(lambda: " ready." in log.read_text() and worker.poll() is None, 40, log, what="the worker")
        before = _scrape(port)
        assert _sample(before, "warden_celery_tasks_total", outcome="success", task="core.ping") is None
        with django_db_blocker.unblock(), app.connection_for_write(broker) as conn, schema_context("t_alpha"):
            for _ in range(3):
                ping.apply_async(args=[uuid.uuid4().hex], connection=conn)
        wait(lambda: log.read_text().count("Task core.ping[") >= 6, 30, log, what="three pings")  # received, succeeded

        def counted() -> bool:
            return _sample(_scrape(port), "warden_celery_tasks_total", outcome="success", task="core.ping") == 3.0

        wait(counted, 10, log, what="the count on the metrics endpoint\n" + _scrape(port))
        text = _scrape(port)
    finally:
        stop(worker)
        connection.set_schema_to_public()
    assert _sample(text, "warden_celery_task_seconds_count", task="core.ping") == 3.0, text
    assert _sample(text, "warden_celery_task_seconds_bucket", le="+Inf", task="core.ping") == 3.0, text
    total = _sample(text, "warden_celery_task_seconds_sum", task="core.ping")
    assert total is not None
    assert 0 < total < 30, text
    assert "# TYPE warden_celery_tasks_total counter" in text
    assert "# TYPE warden_celery_task_seconds histogram" in text
