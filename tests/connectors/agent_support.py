"""Real processes for the customer-agent tests (tests/connectors/test_agent_live.py): a
gunicorn serving Warden against this session's test database, the agent started as
`python -m warden_agent`, plain HTTP requests to the agent API, and a second throwaway
tenant. Loopback only; every wait is bounded (tests/workers.py)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.workers import ROOT, free_port, tails, wait


class LiveWarden:
    """gunicorn (2 sync workers) on 127.0.0.1 with the test settings and `env` on top."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        db = settings.DATABASES["default"]
        self.port = free_port()
        self.log = directory / "gunicorn.log"
        full_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            **env,
        }
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{self.port}",
                 "-w", "2", "--timeout", "60", "--graceful-timeout", "5"],
                cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT,
            )
        try:
            wait(self._healthy, 40, self.log, what="gunicorn /health/")
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        assert self.proc.poll() is None, tails(self.log)
        try:
            return self.request("localhost", "GET", "/health/")[0] == 200
        except OSError:
            return False

    def url(self, slug: str) -> str:
        return f"http://{slug}.localhost:{self.port}"

    def request(self, slug: str, method: str, path: str, *, token: str | None = None, payload: dict | None = None,
                timeout: float = 30) -> tuple[int, dict, bytes]:
        host = "localhost" if slug == "localhost" else f"{slug}.localhost"
        headers = {"Host": f"{host}:{self.port}", "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def poll(self, slug: str, token: str, *, wait: int = 0, max_calls: int = 10) -> tuple[int, dict, bytes]:
        return self.request(slug, "POST", "/api/v1/connectors/agent/poll/", token=token,
                            payload={"wait": wait, "max": max_calls})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class AgentProcess:
    """`python -m warden_agent ARGS`, its output in `log`."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "WARDEN_"))}
        with log.open("a") as out:
            self.proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "warden_agent", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the agent dies on the spot (a crash, a power cut)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


@contextlib.contextmanager
def throwaway_tenant():
    """A committed tenant of its own, dropped afterwards (the `fresh_tenant` fixture's
    recipe, for a test that needs two). The connection's tenant is put back."""
    from apps.tenants.models import Domain, Tenant
    from apps.tenants.services import tenant_provision
    from tests.conftest import PASSWORD, without_default_sla

    previous = getattr(connection, "tenant", None)
    slug = f"tx-{uuid.uuid4().hex[:10]}"
    with without_default_sla():
        created = tenant_provision(slug=slug, name="Throwaway", region="eu", admin_email=f"admin@{slug}.test",
                                   admin_password=PASSWORD, time_zone="UTC").tenant
    _restore(previous)
    try:
        yield created
    finally:
        connection.set_schema_to_public()
        with connection.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{created.schema_name}" CASCADE')
        Domain.objects.filter(tenant_id=created.pk).delete()
        Tenant.objects.filter(pk=created.pk).delete()
        _restore(previous)


def _restore(tenant) -> None:
    if tenant is not None and getattr(tenant, "schema_name", "public") != "public":
        connection.set_tenant(tenant)
    else:
        connection.set_schema_to_public()
