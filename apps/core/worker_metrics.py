"""Prometheus metrics for Celery workers: task counts and durations by task and outcome,
served as Prometheus text on WARDEN_WORKER_METRICS_PORT (127.0.0.1 by default)."""

from __future__ import annotations

import logging
import os
import time

from celery import signals
from prometheus_client import Counter, Histogram, start_http_server

logger = logging.getLogger(__name__)

TASKS = Counter("warden_celery_tasks_total", "Celery tasks finished, by task and outcome", ["task", "outcome"])
DURATION = Histogram("warden_celery_task_seconds", "Celery task run time", ["task"])
_started: dict[str, float] = {}


@signals.task_prerun.connect
def _prerun(task_id=None, task=None, **kwargs) -> None:
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _postrun(task_id=None, task=None, state=None, **kwargs) -> None:
    began = _started.pop(task_id, None)
    name = getattr(task, "name", "unknown")
    if began is not None:
        DURATION.labels(name).observe(time.perf_counter() - began)
    TASKS.labels(name, (state or "unknown").lower()).inc()


@signals.task_rejected.connect
def _rejected(message=None, **kwargs) -> None:
    TASKS.labels(getattr(message, "headers", {}).get("task", "unknown"), "rejected").inc()


@signals.worker_ready.connect
def _serve(**kwargs) -> None:
    port = os.environ.get("WARDEN_WORKER_METRICS_PORT")
    if port:
        address = os.environ.get("WARDEN_WORKER_METRICS_ADDR", "127.0.0.1")
        start_http_server(int(port), addr=address)
        logger.info("worker metrics on http://%s:%s/metrics", address, port)


@signals.task_failure.connect
def _persist_policy_denial(exception=None, **kwargs) -> None:
    from apps.core.problems import persist_denial

    if exception is not None:
        persist_denial(exception)
