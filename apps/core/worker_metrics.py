"""Prometheus metrics for Celery workers: task counts and durations by task and outcome,
served as Prometheus text on WARDEN_WORKER_METRICS_PORT (127.0.0.1 by default).

Tasks run in the pool's child processes (prefork, the default of `celery worker`: the
demo and docker-compose run it), while the endpoint is served by the worker's main
process, which runs no task: counted in the children's memory, the samples never reached
it and the endpoint showed empty metrics. So when the endpoint is on, the worker counts
in prometheus_client's multiprocess mode: at `worker_init` (in the main process, before
the pool forks) the metric values become files in a directory of the worker's own
(PROMETHEUS_MULTIPROC_DIR, or a fresh temporary one, removed at shutdown), and the
endpoint adds up every process's files, those of children since replaced too. The same
path serves the solo and thread pools.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time

from celery import signals
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server, values

logger = logging.getLogger(__name__)

TASKS = Counter("warden_celery_tasks_total", "Celery tasks finished, by task and outcome", ["task", "outcome"])
DURATION = Histogram("warden_celery_task_seconds", "Celery task run time", ["task"])
_started: dict[str, float] = {}
_own_directory: list[str] = []  # the temporary directory this worker made (removed at shutdown)


def _port() -> str:
    return os.environ.get("WARDEN_WORKER_METRICS_PORT", "")


@signals.worker_init.connect
def _count_across_processes(**kwargs) -> None:
    """Main process, before the pool forks: every value made from now on (the task
    metrics' labelled children are made when a task first finishes, in the process that
    ran it) lives in a file of PROMETHEUS_MULTIPROC_DIR."""
    if not _port():
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        directory = tempfile.mkdtemp(prefix="warden-worker-metrics-")
        _own_directory.append(directory)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # inherited by the pool's children
    if not getattr(values.ValueClass, "_multiprocess", False):
        # prometheus_client picks its value class when it is imported (Django imported it
        # long before): choose the multiprocess one for the values made from here on.
        values.ValueClass = values.MultiProcessValue()


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
    port = _port()
    if not port:
        return
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # every process's files, added up
    address = os.environ.get("WARDEN_WORKER_METRICS_ADDR", "127.0.0.1")
    start_http_server(int(port), addr=address, registry=registry)
    logger.info("worker metrics on http://%s:%s/metrics", address, port)


@signals.worker_shutdown.connect
def _remove_own_directory(**kwargs) -> None:
    for directory in _own_directory:
        shutil.rmtree(directory, ignore_errors=True)
    _own_directory.clear()


@signals.task_failure.connect
def _persist_policy_denial(exception=None, **kwargs) -> None:
    from apps.core.problems import persist_denial

    if exception is not None:
        persist_denial(exception)
