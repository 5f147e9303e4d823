"""A real Celery worker (one solo process for the module) against the test database and
Redis: tenant tasks run in the tenant that sent them and see only its rows, one after
another on the same process; tasks without a tenant are refused; log lines carry the
request id that sent the task."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django_tenants.utils import schema_context

from apps.accounts.selectors import directory_digest
from apps.accounts.tasks import directory_probe, probe_key
from apps.core import request_id
from apps.core.tasks import TenantContextMissing, enqueue_on_commit, ping
from config.celery import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
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
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    queue = f"test-{uuid.uuid4().hex[:8]}"  # our own queue: other workers on this broker never take our messages
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "--pool", "solo",
             "--without-heartbeat", "--without-mingle", "--without-gossip", "-n", f"{queue}@%h", "-Q", queue],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while " ready." not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        assert " ready." in log.read_text(), log.read_text()
        yield log, metrics_port, queue
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def default_queue(worker):
    """Route messages sent without an explicit queue (enqueue_on_commit) to our worker."""
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = worker[2]
    try:
        yield worker[2]
    finally:
        app.conf.task_default_queue = previous


def _wait_for(key: str, schema: str, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with schema_context(schema):
            value = cache.get(key)
        if value is not None:
            return value
        time.sleep(0.1)
    return None


def _wait_in_log(log: Path, needle: str, seconds: float = 20.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = log.read_text()
        if needle in text:
            return text
        time.sleep(0.1)
    return log.read_text()


def _directory(schema: str) -> tuple[int, str]:
    with schema_context(schema):
        return directory_digest()


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

        # A message stamped with the public schema is refused by the worker.
        orphan = uuid.uuid4().hex
        connection.set_schema_to_public()
        app.send_task("core.ping", args=[orphan], headers={"_schema_name": "public"}, queue=queue)
        text = _wait_in_log(worker, "arrived without a tenant")
        assert "refused to run tenant task core.ping" in text
        assert _wait_for(f"core.ping:{orphan}", "public", seconds=0.5) is None

    metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()  # noqa: S310
    assert 'warden_celery_tasks_total{outcome="success",task="core.ping"} 1.0' in metrics


@pytest.mark.slow
def test_interleaved_tenant_tasks_on_one_worker_process_each_see_only_their_own_rows(worker, django_db_blocker):
    _, _, queue = worker
    with django_db_blocker.unblock():
        expected = {schema: _directory(schema) for schema in ("t_alpha", "t_beta")}
        assert expected["t_alpha"] != expected["t_beta"]
        sent = []
        for schema in ("t_alpha", "t_beta", "t_alpha"):
            token = uuid.uuid4().hex
            with schema_context(schema):
                directory_probe.apply_async(args=[token], queue=queue)
            sent.append((schema, token))
        reports = [(schema, _wait_for(probe_key(token), schema)) for schema, token in sent]
        for schema, report in reports:
            assert report is not None, f"no report from the {schema} probe"
            assert report["schema"] == schema
            assert (report["users"], report["emails_sha256"]) == expected[schema]
        assert len({report["pid"] for _, report in reports}) == 1  # one worker process ran all three
        # The report was written under the sender's tenant prefix only.
        alpha_token = sent[0][1]
        with schema_context("t_beta"):
            assert cache.get(probe_key(alpha_token)) is None


@pytest.mark.slow
def test_task_without_tenant_is_refused_at_send_and_by_the_worker(worker, django_db_blocker, caplog):
    log, _, queue = worker
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        with pytest.raises(TenantContextMissing):
            directory_probe.apply_async(args=["never-sent"], queue=queue)
        assert "refused to enqueue tenant task accounts.directory_probe" in caplog.text

        # A hand-crafted message with no tenant header at all (plain Celery's send_task,
        # which tenant-schemas-celery's app would otherwise stamp with the current schema).
        token = uuid.uuid4().hex
        message = Celery.send_task(app, "accounts.directory_probe", args=[token], queue=queue)
        text = _wait_in_log(log, f"(id {message.id}) in the public schema")
        assert f"refused to run tenant task accounts.directory_probe (id {message.id}) in the public schema" in text
        for schema in ("public", "t_alpha", "t_beta"):
            assert _wait_for(probe_key(token), schema, seconds=0.3) is None


@pytest.mark.slow
def test_task_for_a_tenant_deleted_since_it_was_sent_is_dropped_by_name(worker, django_db_blocker):
    log, _, queue = worker
    with django_db_blocker.unblock():
        token = uuid.uuid4().hex
        message = directory_probe.apply_async(args=[token], queue=queue, headers={"_schema_name": "t_gone"})
        text = _wait_in_log(log, f"(id {message.id}): its tenant t_gone no longer exists")
        assert f"dropped tenant task accounts.directory_probe (id {message.id})" in text
        assert f"(id {message.id}) in the public schema" not in text
        for schema in ("public", "t_alpha", "t_beta"):
            assert _wait_for(probe_key(token), schema, seconds=0.3) is None


@pytest.mark.slow
def test_enqueue_on_commit_sends_the_schema_current_when_registered(default_queue, django_db_blocker):
    token = uuid.uuid4().hex
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        with transaction.atomic():
            with schema_context("t_alpha"):
                enqueue_on_commit(directory_probe, token=token)
            # The context has exited: at commit time the connection is in public.
            assert connection.schema_name == "public"
        report = _wait_for(probe_key(token), "t_alpha")
        assert report is not None
        assert report["schema"] == "t_alpha"
        assert (report["users"], report["emails_sha256"]) == _directory("t_alpha")


def test_enqueue_on_commit_refuses_the_public_schema(db, caplog):
    connection.set_schema_to_public()
    with pytest.raises(TenantContextMissing):
        enqueue_on_commit(directory_probe, token="x")
    assert "refused to enqueue tenant task accounts.directory_probe" in caplog.text


@pytest.mark.slow
def test_task_log_lines_carry_the_request_id_that_sent_them(default_queue, worker, django_db_blocker):
    log = worker[0]
    token = uuid.uuid4().hex
    incoming = f"req-{uuid.uuid4().hex[:12]}"
    with django_db_blocker.unblock():
        # What RequestIDMiddleware does for a request that enqueues work on commit.
        context = request_id.set(incoming)
        try:
            with schema_context("t_alpha"), transaction.atomic():
                enqueue_on_commit(directory_probe, token=token)
        finally:
            request_id.reset(context)
        report = _wait_for(probe_key(token), "t_alpha")
    assert report is not None
    assert report["request_id"] == incoming
    text = _wait_in_log(log, f"directory probe {token}")
    line = next(line for line in text.splitlines() if f"directory probe {token}" in line)
    # Django's LOGGING format in the worker: "<time> INFO [<request id>] [<schema>] <logger>: <message>"
    expected = rf" INFO \[{incoming}\] \[t_alpha\] apps\.accounts\.tasks: directory probe {token}: \d+ active users"
    assert re.search(expected, line), line


@pytest.mark.slow
def test_worker_check_command_reports_what_the_worker_saw(default_queue, django_db_blocker, capsys):
    import json

    from django.core.management import call_command

    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        call_command("worker_check", "--tenant", "beta", "--timeout", "20")
        report = json.loads(capsys.readouterr().out)
        assert report["schema"] == "t_beta"
        assert report["active_users"] == _directory("t_beta")[0]
        assert isinstance(report["worker_pid"], int)


def test_worker_check_fails_in_one_line_when_no_worker_answers(db):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    connection.set_schema_to_public()
    previous, nobody = app.conf.task_default_queue, f"nobody-{uuid.uuid4().hex[:8]}"  # no worker consumes it
    app.conf.task_default_queue = nobody
    try:
        with pytest.raises(CommandError, match=r"no worker answered for tenant 'alpha' within 0.3s") as excinfo:
            call_command("worker_check", "--tenant", "alpha", "--timeout", "0.3")
    finally:
        app.conf.task_default_queue = previous
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(nobody)
    assert excinfo.value.returncode == 1


def test_enqueue_on_commit_with_the_broker_down_logs_and_keeps_the_write(tenant, monkeypatch, caplog,
                                                                         django_capture_on_commit_callbacks):
    """The write committed: a broker that cannot be reached must not turn it into an error."""
    from kombu.exceptions import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:63799. Connection refused.")

    monkeypatch.setattr(ping, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(ping, token="down")
    assert "could not enqueue core.ping for t_alpha after commit" in caplog.text
