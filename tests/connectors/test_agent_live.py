"""The customer agent end to end: Warden served by gunicorn, the agent a separate process
(`python -m warden_agent`), and an "internal" service on 127.0.0.1 behind TLS that
Warden's own client is not allowed to reach (its name resolves to a loopback address,
refused by the SSRF guard) and only the agent reaches. ConnectorClient runs in this test
process, against a committed throwaway tenant, exactly as a Celery task would.

Timings (the server's environment): a claim's lease is 6 s, the connect timeout 1 s, so
the agent's read timeout is 3 s; polls wait at most 5 s (the agent asks for 2).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.connectors import breaker
from apps.connectors.agent.models import AgentCall, AgentCallStatus, ConnectorAgent
from apps.connectors.agent.services import agent_register, agent_revoke
from apps.connectors.client import CallFailed, CallRefused, ConnectorClient, RedirectRefused, WriteCapReached
from apps.connectors.models import Connector, ConnectorCall, DeadLetter
from apps.connectors.services.connectors import connector_create
from apps.connectors.services.domains import domain_add
from apps.core.errors import ApplicationError
from tests.connectors.agent_support import AgentProcess, LiveWarden, throwaway_tenant
from tests.fakes import dns
from tests.fakes.http_service import Answer
from tests.fakes.internal_service import InternalService, make_certificates
from tests.workers import wait

pytestmark = pytest.mark.slow

HOST = "ghe.corp.test"
OTHER_HOST = "other.corp.test"
INTERNAL_SECRET = "internal-ghe-token-held-by-the-agent"
LEASE = 6


@pytest.fixture(scope="module")
def warden(django_db_setup, tmp_path_factory):
    server = LiveWarden(tmp_path_factory.mktemp("warden"), env={
        "WARDEN_CONNECTORS_AGENT_LEASE_SECONDS": str(LEASE),
        "WARDEN_CONNECTORS_AGENT_POLL_SECONDS": "5",
        "WARDEN_CONNECTORS_CONNECT_TIMEOUT": "1",
    })
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"), [HOST, OTHER_HOST])


@pytest.fixture
def internal(tls):
    with InternalService(tls) as service:
        yield service


@pytest.fixture
def fast(settings):
    settings.WARDEN_CONNECTORS_AGENT_WAIT_SECONDS = 25
    settings.WARDEN_CONNECTORS_MAX_ATTEMPTS = 1
    settings.WARDEN_CONNECTORS_CONNECT_TIMEOUT = 1
    return settings


@dataclass
class Site:
    """One tenant's side: its admin, a registered agent (token in a file), an agent-routed
    GitHub Enterprise connector, and the agents started for it (stopped afterwards)."""

    tenant: object
    warden: LiveWarden
    internal: InternalService
    tls: object
    directory: Path
    admin: User
    agent: ConnectorAgent
    token: str
    connector: Connector
    processes: list[AgentProcess] = field(default_factory=list)

    def files(self, token: str) -> tuple[Path, Path]:
        token_file = self.directory / f"token-{len(self.processes)}"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        credentials = self.directory / "credentials.json"
        credentials.write_text(json.dumps({HOST: f"Bearer {INTERNAL_SECRET}"}))
        credentials.chmod(0o600)
        return token_file, credentials

    def start_agent(self, *, token: str | None = None, allow: list[str] | None = None, slug: str | None = None,
                    contact: bool = True) -> AgentProcess:
        token_file, credentials = self.files(token or self.token)
        args = ["--url", self.warden.url(slug or self.tenant.slug), "--token-file", str(token_file),
                "--credentials", str(credentials), "--resolve", f"{HOST}=127.0.0.1", "--resolve",
                f"{OTHER_HOST}=127.0.0.1", "--target-ca-bundle", str(self.tls.ca), "--insecure-loopback",
                "--poll-wait", "2"]
        for entry in allow if allow is not None else [f"{HOST}:{self.internal.port}"]:
            args += ["--allow-host", entry]
        before = ConnectorAgent.objects.get(pk=self.agent.pk).last_contact_at
        process = AgentProcess(args, self.directory / f"agent-{len(self.processes)}.log")
        self.processes.append(process)
        if contact:
            wait(lambda: ConnectorAgent.objects.get(pk=self.agent.pk).last_contact_at != before, 20, process.log,
                 what="the agent's first poll")
        return process

    def stop_agents(self) -> None:
        for process in self.processes:
            process.stop()

    def client(self) -> ConnectorClient:
        return ConnectorClient(Connector.objects.get(pk=self.connector.pk))


def _site(tenant, warden, internal, tls, directory: Path) -> Site:
    admin = User.objects.get(email=f"admin@{tenant.slug}.test")
    domain_add(actor=admin, pattern=HOST, note="Our own GitHub Enterprise (tests)")
    agent, token = agent_register(actor=admin, name="edge")
    connector = connector_create(actor=admin, kind="github", name="ghe", base_url=f"{internal.url}/api/v3",
                                 auth_scheme="none", route="agent", agent=agent, dry_run=False)
    breaker.reset(connector.pk)
    return Site(tenant=tenant, warden=warden, internal=internal, tls=tls, directory=directory, admin=admin,
                agent=agent, token=token, connector=connector)


@pytest.fixture
def site(fresh_tenant, warden, internal, tls, tmp_path, fast):
    dns.ANSWERS[HOST] = ["127.0.0.1"]  # what the customer's DNS says: internal (here, loopback)
    dns.ANSWERS[OTHER_HOST] = ["127.0.0.1"]
    site = _site(fresh_tenant, warden, internal, tls, tmp_path)
    yield site
    site.stop_agents()


def _in_thread(tenant, fn):
    """Run `fn` in a thread of its own (its own database connection, in `tenant`)."""
    box: dict = {}

    def run():
        try:
            with tenant_context(tenant):
                box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _rows_text() -> str:
    return json.dumps([
        {"url": c.url, "headers": c.headers, "body": bytes(c.body or b"").decode("latin-1"),
         "result_headers": c.result_headers, "result_body": bytes(c.result_body or b"").decode("latin-1")}
        for c in AgentCall.objects.all()
    ])


# -- the route ------------------------------------------------------------------------------


def test_the_internal_service_is_reached_only_through_the_agent(site):
    internal = site.internal
    # Warden itself may not go there: at save time (the name resolves to a loopback
    # address; a port other than 443) ...
    for url in (f"https://{HOST}", internal.url):
        with pytest.raises(ApplicationError) as refused:
            connector_create(actor=site.admin, kind="github", name="ghe-direct", base_url=url, auth_scheme="bearer",
                             secret="x", dry_run=False)
        assert "base_url" in refused.value.errors
    # ... nor at call time, if the connector were direct.
    Connector.objects.filter(pk=site.connector.pk).update(route="direct", agent=None)
    with pytest.raises(CallRefused) as direct:
        site.client().get("/user")
    assert direct.value.code in ("address", "port")
    Connector.objects.filter(pk=site.connector.pk).update(route="agent", agent=site.agent)
    assert internal.requests == []

    site.start_agent()
    internal.script = [Answer(200, {"X-GitHub-Enterprise-Version": "3.14"}, {"login": "warden-bot"})]
    result = site.client().get("/user", params={"per_page": 5})
    assert result.status_code == 200
    assert result.json() == {"login": "warden-bot"}
    assert result.headers["X-GitHub-Enterprise-Version"] == "3.14"
    assert result.address == "agent:edge"
    seen = internal.requests[-1]
    assert (seen.method, seen.path) == ("GET", "/api/v3/user?per_page=5")
    assert seen.headers["Authorization"] == f"Bearer {INTERNAL_SECRET}"  # the agent's own credentials
    assert seen.headers["User-Agent"] == "Warden-Connectors/1"
    call = AgentCall.objects.get()
    assert (call.status, call.claims, call.result_status) == (AgentCallStatus.DONE, 1, 200)
    assert call.result_body is None  # wiped once read (metadata only)
    refused, record = ConnectorCall.objects.filter(connector=site.connector).order_by("pk")
    assert refused.outcome == "refused"
    assert (record.outcome, record.status_code, record.address) == ("ok", 200, "agent:edge")
    agent = ConnectorAgent.objects.get(pk=site.agent.pk)
    assert agent.version == "1.0.0"
    assert agent.last_address == "127.0.0.1"

    # A keyed write: the key and the body reach the service through the agent.
    internal.script = [Answer(201, body={"number": 7})]
    created = site.client().post("/repos/acme/app/issues", json={"title": "Disk full"}, idempotency_key="t-42")
    assert created.status_code == 201
    seen = internal.requests[-1]
    assert seen.headers["Idempotency-Key"] == "t-42"
    assert json.loads(seen.body) == {"title": "Disk full"}
    # The service's redirect is not followed (by the agent) and refused (by the client).
    internal.script = [Answer(302, {"Location": "https://elsewhere.example/"})]
    with pytest.raises(RedirectRefused):
        site.client().get("/moved")
    assert len(internal.requests) == 3
    # The agent's credentials were never in Warden.
    assert INTERNAL_SECRET not in _rows_text()
    assert not Connector.objects.get(pk=site.connector.pk).secret


def test_the_agent_refuses_a_host_outside_its_allow_list(site):
    domain_add(actor=site.admin, pattern=OTHER_HOST, note="verified, but not in the agent's allow-list")
    other = connector_create(actor=site.admin, kind="github", name="other", base_url=site.internal.url_for(OTHER_HOST),
                             auth_scheme="none", route="agent", agent=site.agent, dry_run=False)
    site.start_agent()
    with pytest.raises(CallRefused) as refused:
        ConnectorClient(other).get("/user")
    assert refused.value.code == "agent_host_not_allowed"
    assert site.internal.requests == []
    assert AgentCall.objects.get().error_code == "host_not_allowed"


def test_dry_run_cap_and_dead_letters_apply_as_for_a_direct_connector(site):
    site.start_agent()
    # Dry run: recorded, nothing queued for the agent, nothing sent.
    Connector.objects.filter(pk=site.connector.pk).update(dry_run=True)
    result = site.client().post("/repos/acme/app/issues", json={"title": "x"}, idempotency_key="d-1")
    assert result.dry_run
    assert AgentCall.objects.count() == 0
    assert site.internal.requests == []
    # The daily write cap: the second write is refused before anything is queued.
    Connector.objects.filter(pk=site.connector.pk).update(dry_run=False, daily_write_cap=1)
    site.internal.script = [Answer(201)]
    assert site.client().post("/repos/acme/app/issues", json={"title": "one"}, idempotency_key="c-1").status_code == 201
    with pytest.raises(WriteCapReached):
        site.client().post("/repos/acme/app/issues", json={"title": "two"}, idempotency_key="c-2")
    assert AgentCall.objects.count() == 1
    assert len(site.internal.requests) == 1
    # A write that fails (a 500 through the agent, not retried here) becomes a dead letter.
    Connector.objects.filter(pk=site.connector.pk).update(daily_write_cap=10)
    site.internal.script = [Answer(500)]
    with pytest.raises(CallFailed) as failed:
        site.client().patch("/repos/acme/app/issues/1", json={"state": "closed"})
    assert failed.value.status_code == 500
    letters = DeadLetter.objects.filter(connector=site.connector).order_by("pk")
    assert [(d.method, d.path, d.body, d.idempotency_key) for d in letters] == [
        ("POST", "/repos/acme/app/issues", {"title": "two"}, "c-2"),  # refused by the cap, as a direct write is
        ("PATCH", "/repos/acme/app/issues/1", {"state": "closed"}, ""),
    ]
    outcomes = list(ConnectorCall.objects.filter(connector=site.connector).order_by("pk").values_list("outcome",
                                                                                                        flat=True))
    assert outcomes == ["dry_run", "ok", "cap", "http_error"]


# -- tokens and tenants -----------------------------------------------------------------------


def test_unknown_and_revoked_tokens_get_401_and_nothing(site):
    warden, slug = site.warden, site.tenant.slug
    queued = AgentCall.objects.create(agent=site.agent, connector=site.connector, method="GET",
                                      url=f"{site.internal.url}/api/v3/user", expires_at=timezone.now() + timedelta(minutes=5))
    for token in ("", "wagent_0123456789abcdef_" + "A" * 43, site.token[:-1] + "x", "Token something"):
        status, headers, body = warden.poll(slug, token)
        assert status == 401, body
        assert headers["content-type"].startswith("application/problem+json")
        assert headers["www-authenticate"].startswith("Bearer")
        assert "calls" not in json.loads(body)
    assert AgentCall.objects.get(pk=queued.pk).status == AgentCallStatus.QUEUED
    assert ConnectorAgent.objects.get(pk=site.agent.pk).last_contact_at is None

    # Revoked while running: the agent's next request is refused; it stops with exit code 3.
    AgentCall.objects.filter(pk=queued.pk).delete()
    process = site.start_agent()
    agent_revoke(actor=site.admin, agent=site.agent)
    wait(lambda: not process.running(), 20, process.log, what="the revoked agent to stop")
    assert process.proc.returncode == 3
    assert "refused the agent's token" in process.output()
    status, _headers, body = warden.poll(slug, site.token)
    assert status == 401
    with pytest.raises(CallRefused) as refused:  # and nothing is queued for it any more
        site.client().get("/user")
    assert refused.value.code == "agent_revoked"
    assert AgentCall.objects.count() == 0
    assert site.internal.requests == []


def test_an_agent_never_gets_another_tenants_calls(site, tmp_path):
    warden = site.warden
    with throwaway_tenant() as other:
        with tenant_context(other):
            dns.ANSWERS[HOST] = ["127.0.0.1"]
            theirs = _site(other, warden, site.internal, site.tls, tmp_path / "other")
            their_call = AgentCall.objects.create(agent=theirs.agent, connector=theirs.connector, method="GET",
                                                  url=f"{site.internal.url}/api/v3/theirs",
                                                  expires_at=timezone.now() + timedelta(minutes=5))
        # Each token means nothing on the other tenant's host.
        assert warden.poll(other.slug, site.token)[0] == 401
        assert warden.poll(site.tenant.slug, theirs.token)[0] == 401
        # Our agent, running, makes our call only.
        site.start_agent()
        site.internal.script = [Answer(200, body={"ours": True})]
        assert site.client().get("/ours").json() == {"ours": True}
        assert [r.path for r in site.internal.requests] == ["/api/v3/ours"]
        with tenant_context(other):
            assert AgentCall.objects.get(pk=their_call.pk).status == AgentCallStatus.QUEUED
            assert AgentCall.objects.get(pk=their_call.pk).claims == 0
        # Their own agent gets exactly theirs.
        status, _headers, body = warden.poll(other.slug, theirs.token)
        assert status == 200
        assert [c["url"] for c in json.loads(body)["calls"]] == [f"{site.internal.url}/api/v3/theirs"]


# -- leases -------------------------------------------------------------------------------------


def _until_requests(internal, count: int, process: AgentProcess) -> None:
    wait(lambda: len(internal.requests) >= count, 20, process.log, what=f"{count} request(s) at the service",
         every=0.02)


def test_a_call_held_by_an_agent_that_dies_is_claimed_again_once(site):
    internal = site.internal
    internal.script = [Answer(201, delay=5.0), Answer(201, body={"number": 9})]
    first = site.start_agent()
    thread, box = _in_thread(site.tenant, lambda: site.client().post(
        "/repos/acme/app/issues", json={"title": "Printer on fire"}, idempotency_key="fire-1"))
    _until_requests(internal, 1, first)
    first.kill()  # mid-call: its lease runs out, then the next poll takes it again
    second = site.start_agent(contact=False)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "error" not in box, box.get("error")
    assert box["value"].status_code == 201
    assert box["value"].json() == {"number": 9}
    assert [r.headers["Idempotency-Key"] for r in internal.requests] == ["fire-1", "fire-1"]
    call = AgentCall.objects.get()
    assert (call.status, call.claims) == (AgentCallStatus.DONE, 2)
    assert second.running()


def test_a_call_is_claimed_again_at_most_once_and_an_unkeyed_write_never(site):
    internal = site.internal
    # A keyed write whose agent dies twice: the second lapse fails it; a third agent never sees it.
    internal.script = [Answer(201, delay=5.0), Answer(201, delay=5.0)]
    first = site.start_agent()
    started = time.monotonic()
    thread, box = _in_thread(site.tenant, lambda: site.client().post("/issues", json={"n": 1}, idempotency_key="k"))
    _until_requests(internal, 1, first)
    first.kill()
    second = site.start_agent(contact=False)
    _until_requests(internal, 2, second)
    second.kill()
    site.start_agent(contact=False)
    thread.join(timeout=40)
    assert not thread.is_alive()
    assert isinstance(box.get("error"), CallFailed), box
    assert box["error"].code == "agent_lost"
    assert time.monotonic() - started < 30
    assert len(internal.requests) == 2
    call = AgentCall.objects.get()
    assert (call.status, call.claims, call.error_code) == (AgentCallStatus.FAILED, 2, "agent_lost")

    # A write without an idempotency key is never sent twice: its lapse fails it at once.
    internal.script = [Answer(201, delay=5.0)]
    before = len(internal.requests)
    thread, box = _in_thread(site.tenant, lambda: site.client().post("/issues", json={"n": 2}))
    _until_requests(internal, before + 1, site.processes[-1])
    site.processes[-1].kill()
    site.start_agent(contact=False)
    thread.join(timeout=30)
    assert isinstance(box.get("error"), CallFailed), box
    assert box["error"].code == "agent_lost"
    assert len(internal.requests) == before + 1
    assert DeadLetter.objects.filter(connector=site.connector, body={"n": 2}).count() == 1


# -- the process --------------------------------------------------------------------------------


def test_sigterm_stops_a_polling_agent_at_once(site):
    process = site.start_agent()
    started = time.monotonic()
    assert process.stop(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert process.output().rstrip().endswith("warden-agent: stopped")
    assert site.token not in process.output()
