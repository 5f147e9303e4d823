"""The client against a real HTTP server on 127.0.0.1: Retry-After, backoff, the
circuit breaker, dry run, the write cap, dead letters, metering."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.connectors import breaker
from apps.connectors.choices import DeadLetterStatus, Health, Outcome
from apps.connectors.client import CallFailed, CircuitOpen, ConnectorClient, WriteCapReached
from apps.connectors.models import ConnectorCall, ConnectorUsage, DeadLetter
from apps.connectors.selectors import usage_last_days
from apps.connectors.services.operations import dead_letter_retry
from tests.connectors.conftest import SECRET
from tests.fakes.http_service import Answer


def test_retry_after_then_503_then_timeouts_open_the_circuit(fast, local_connector, service):
    service.script = [Answer(429, {"Retry-After": "2"}), Answer(503), Answer(delay=1.0), Answer(delay=1.0)]
    slept = []
    client = ConnectorClient(local_connector, sleep=slept.append, rng=lambda: 0.5)
    with pytest.raises(CallFailed) as failed:
        client.get("/api/now/table/incident")
    assert failed.value.code == "read_timeout"
    assert failed.value.attempts == 4
    assert len(service.requests) == 4
    assert slept[0] == 2.0  # Retry-After honoured exactly
    assert slept[1:] == [0.5 * 0.5 * 2, 0.5 * 0.5 * 4]  # jittered exponential backoff (rng 0.5)
    assert breaker.is_open(local_connector.pk)
    # The open circuit refuses at once: nothing reaches the server.
    with pytest.raises(CircuitOpen):
        client.get("/api/now/table/incident")
    assert len(service.requests) == 4
    calls = list(ConnectorCall.objects.filter(connector=local_connector).order_by("pk").values_list("outcome", "attempts"))
    assert calls == [(Outcome.NETWORK, 4), (Outcome.CIRCUIT_OPEN, 0)]
    local_connector.refresh_from_db()
    assert local_connector.health == Health.FAILING
    # After the cool-down one trial call goes out; it succeeds and closes the circuit.
    state = breaker.load(local_connector.pk)
    breaker.store(local_connector.pk, breaker.BreakerState(failures=state.failures, opened_until=0))
    assert client.get("/api/now/table/incident").status_code == 200
    assert not breaker.is_open(local_connector.pk)
    assert breaker.load(local_connector.pk).failures == 0


def test_a_long_retry_after_is_not_slept_through(fast, local_connector, service):
    service.script = [Answer(429, {"Retry-After": "3600"})]
    slept = []
    with pytest.raises(CallFailed) as failed:
        ConnectorClient(local_connector, sleep=slept.append).get("/x")
    assert failed.value.retry_after == 3600
    assert slept == []
    assert len(service.requests) == 1


def test_a_write_without_idempotency_key_is_not_retried_after_a_5xx(fast, local_connector, service):
    service.script = [Answer(503), Answer(201)]
    with pytest.raises(CallFailed):
        ConnectorClient(local_connector, sleep=lambda s: None).post("/api/now/table/incident", json={"a": 1})
    assert len(service.requests) == 1
    dead = DeadLetter.objects.get(connector=local_connector)
    assert (dead.method, dead.path, dead.body, dead.status) == ("POST", "/api/now/table/incident", {"a": 1}, "open")


def test_a_keyed_write_is_retried_and_a_dead_letter_can_be_retried(fast, local_connector, service, admin_user):
    service.script = [Answer(503), Answer(503), Answer(503), Answer(503)]
    with pytest.raises(CallFailed):
        ConnectorClient(local_connector, sleep=lambda s: None).post("/api/now/table/incident", json={"a": 1},
                                                                    idempotency_key="warden-1", operation="create")
    assert [r.headers.get("Idempotency-Key") for r in service.requests] == ["warden-1"] * 4
    dead = DeadLetter.objects.get(connector=local_connector)
    breaker.reset(local_connector.pk)
    assert dead_letter_retry(actor=admin_user, dead_letter=dead, sleep=lambda s: None) is True
    dead.refresh_from_db()
    assert dead.status == DeadLetterStatus.SUCCEEDED
    assert service.requests[-1].headers["Idempotency-Key"] == "warden-1"
    assert AuditEvent.objects.filter(action="connector.dead_letter_retried").exists()


def test_dry_run_writes_are_recorded_not_sent(loopback, service, make_connector):
    connector = make_connector(name="dry", base_url=service.url, dry_run=True)
    result = ConnectorClient(connector).post("/api/now/table/incident", json={"a": 1})
    assert result.dry_run
    assert service.requests == []
    assert ConnectorClient(connector).get("/api/now/table/incident").status_code == 200  # reads go out
    assert ConnectorCall.objects.filter(connector=connector, outcome=Outcome.DRY_RUN).count() == 1
    assert usage_last_days(days=1)["dry_runs"] >= 1


def test_the_daily_write_cap(loopback, service, make_connector):
    connector = make_connector(name="capped", base_url=service.url, daily_write_cap=2)
    client = ConnectorClient(connector)
    client.post("/a", json={})
    client.post("/a", json={})
    with pytest.raises(WriteCapReached):
        client.post("/a", json={})
    assert len(service.requests) == 2


def test_every_request_sent_is_metered(fast, local_connector, service):
    service.script = [Answer(500), Answer(200)]
    client = ConnectorClient(local_connector, sleep=lambda s: None)
    client.get("/x")
    client.post("/y", json={"b": 2})
    usage = ConnectorUsage.objects.get(connector_id=local_connector.pk)
    assert (usage.calls, usage.writes, usage.failures, usage.kind) == (3, 1, 0, "servicenow")


def test_credentials_are_sent_and_never_recorded(fast, local_connector, service, caplog):
    service.script = [Answer(500), Answer(500), Answer(500), Answer(500)]
    with pytest.raises(CallFailed):
        ConnectorClient(local_connector, sleep=lambda s: None).post("/y", json={"b": 2}, idempotency_key="k")
    assert service.requests[0].headers["Authorization"] == f"Bearer {SECRET}"
    recorded = [repr(local_connector), str(local_connector), caplog.text]
    recorded += [str(row) for row in ConnectorCall.objects.values()]
    recorded += [str(row) for row in DeadLetter.objects.values()]
    recorded += [str(event.payload) for event in AuditEvent.objects.all()]
    for text in recorded:
        assert SECRET not in text
        assert local_connector.secret not in text


def test_basic_auth(loopback, service, make_connector):
    import base64

    connector = make_connector(name="basic", base_url=service.url, auth_scheme="basic", username="warden")
    ConnectorClient(connector).get("/x")
    expected = "Basic " + base64.b64encode(f"warden:{SECRET}".encode()).decode()
    assert service.requests[0].headers["Authorization"] == expected
