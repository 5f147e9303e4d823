"""The customer agent, Warden's side, in process: registering and revoking (policy,
audit, the token as a hash only), the agent API (401s, what a poll hands out, results,
leases), agent-routed connectors (what their services accept, what the client refuses
before queueing anything), the URL check, the admin, the connectors API and pruning.
The agent as a real process: test_agent_live.py."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.connectors.agent import tokens
from apps.connectors.agent.guard import parse_agent_url
from apps.connectors.agent.models import AgentCall, AgentCallStatus, ConnectorAgent
from apps.connectors.agent.services import agent_register, agent_revoke
from apps.connectors.client import CallFailed, CallRefused, ConnectorClient
from apps.connectors.guard import UrlRefused
from apps.connectors.models import Connector, ConnectorCall, ConnectorUsage
from apps.connectors.services.connectors import connector_create, connector_update
from apps.connectors.services.domains import domain_add
from apps.connectors.tasks import connectors_prune
from apps.core.errors import ApplicationError
from apps.policies.decisions import PolicyDenied
from tests.connectors.conftest import SECRET
from tests.fakes import dns

HOST = "alpha.localhost"
INTERNAL = "ghe.corp.test"
POLL = "/api/v1/connectors/agent/poll/"
RESULTS = "/api/v1/connectors/agent/results/"


@pytest.fixture
def agent(admin_user):
    registered, token = agent_register(actor=admin_user, name="edge")
    registered.token = token
    return registered


@pytest.fixture
def routed(admin_user, agent):
    domain_add(actor=admin_user, pattern=INTERNAL, note="our GitHub Enterprise")
    return connector_create(actor=admin_user, kind="github", name="ghe", base_url=f"https://{INTERNAL}:8443/api/v3",
                            auth_scheme="none", route="agent", agent=agent, dry_run=False)


def _as_agent(token: str, host: str = HOST, **headers) -> APIClient:
    client = APIClient(HTTP_HOST=host)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}", **headers)
    return client


def _queue(agent, connector, **values) -> AgentCall:
    defaults = {"method": "GET", "url": f"https://{INTERNAL}:8443/api/v3/user",
                "expires_at": timezone.now() + timedelta(minutes=1)}
    return AgentCall.objects.create(agent=agent, connector=connector, **{**defaults, **values})


# -- registering and revoking ---------------------------------------------------------------


def test_registering_keeps_only_a_hash_of_the_token_and_is_audited(admin_user, agent):
    assert agent.token.startswith("wagent_")
    stored = ConnectorAgent.objects.filter(pk=agent.pk).values().get()
    assert agent.token not in repr(stored)
    assert agent.token.split("_")[-1] not in repr(stored)
    assert stored["token_hash"] == tokens.digest(agent.token)
    assert tokens.matches(agent.token, stored["token_hash"])
    assert not tokens.matches(agent.token + "x", stored["token_hash"])
    event = AuditEvent.objects.filter(action="connector.agent_registered").latest("seq")
    assert event.payload_data == {"name": "edge"}
    assert agent.token.encode() not in bytes(event.payload)
    with pytest.raises(ApplicationError) as duplicate:
        agent_register(actor=admin_user, name="edge")
    assert "name" in duplicate.value.errors


def test_only_admins_register_or_revoke_agents(agent, agent_user, requester_user):
    for user in (agent_user, requester_user):
        with pytest.raises(PolicyDenied):
            agent_register(actor=user, name="sneaky")
        with pytest.raises(PolicyDenied):
            agent_revoke(actor=user, agent=agent)
    assert ConnectorAgent.objects.get(pk=agent.pk).revoked_at is None


def test_revoking_is_audited_final_and_fails_what_was_queued(admin_user, agent, routed):
    queued = _queue(agent, routed)
    assert agent_revoke(actor=admin_user, agent=agent) is True
    assert agent_revoke(actor=admin_user, agent=agent) is False  # once
    event = AuditEvent.objects.filter(action="connector.agent_revoked").latest("seq")
    assert event.payload_data == {"name": "edge", "connectors": ["ghe"]}
    queued.refresh_from_db()
    assert (queued.status, queued.error_code) == (AgentCallStatus.FAILED, "agent_revoked")
    assert _as_agent(agent.token).post(POLL, {"wait": 0}, format="json").status_code == 401


# -- the agent API -------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", [None, "Bearer ", "Bearer nonsense", "Bearer wagent_0123456789abcdef_" + "A" * 43,
                                        "Basic YTpi"])
def test_without_a_valid_agent_token_the_api_is_401_and_nothing(tenant, agent, routed, credential):
    _queue(agent, routed)
    client = APIClient(HTTP_HOST=HOST)
    if credential:
        client.credentials(HTTP_AUTHORIZATION=credential)
    for path, body in ((POLL, {"wait": 0}), (RESULTS, {"results": []})):
        response = client.post(path, body, format="json")
        assert response.status_code == 401, response.content
        assert response["Content-Type"].startswith("application/problem+json")
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert set(response.json()) >= {"status", "title", "detail"}
        assert "calls" not in response.json()
    assert AgentCall.objects.get().status == AgentCallStatus.QUEUED
    assert ConnectorAgent.objects.get(pk=agent.pk).last_contact_at is None


def test_a_user_token_is_not_an_agent_token(api_as, admin_user, agent, routed):
    _queue(agent, routed)
    assert api_as(admin_user).post(POLL, {"wait": 0}, format="json").status_code == 401
    assert AgentCall.objects.get().status == AgentCallStatus.QUEUED


def test_a_token_of_one_tenant_means_nothing_on_another(agent, routed, other_tenant):
    _queue(agent, routed)
    assert _as_agent(agent.token, host="beta.localhost").post(POLL, {"wait": 0}, format="json").status_code == 401


def test_a_poll_hands_out_this_agents_calls_claimed_and_records_its_contact(admin_user, agent, routed):
    other, _token = agent_register(actor=admin_user, name="elsewhere")
    mine = _queue(agent, routed, method="POST", body=b'{"a":1}', headers={"Idempotency-Key": "k-1"})
    _queue(other, routed)  # another agent's call, same tenant
    _queue(agent, routed, expires_at=timezone.now() - timedelta(seconds=1))  # its waiter gave up
    response = _as_agent(agent.token, HTTP_WARDEN_AGENT_VERSION="1.2.3").post(POLL, {"wait": 0, "max": 10},
                                                                               format="json")
    assert response.status_code == 200, response.content
    calls = response.json()["calls"]
    assert [c["id"] for c in calls] == [mine.pk]
    call = calls[0]
    assert (call["method"], call["claim"], call["headers"]) == ("POST", 1, {"Idempotency-Key": "k-1"})
    assert base64.b64decode(call["body"]) == b'{"a":1}'
    assert call["read_timeout"] <= call["lease_seconds"] - call["connect_timeout"]
    mine.refresh_from_db()
    assert (mine.status, mine.claims) == (AgentCallStatus.CLAIMED, 1)
    assert mine.lease_until > timezone.now()
    seen = ConnectorAgent.objects.get(pk=agent.pk)
    assert seen.version == "1.2.3"
    assert seen.last_contact_at is not None
    # Claimed: the next poll does not hand it out again while the lease runs.
    assert _as_agent(agent.token).post(POLL, {"wait": 0}, format="json").json() == {"calls": []}
    assert ConnectorAgent.objects.get(pk=agent.pk).version == ""  # no header, no version


def test_a_lapsed_lease_is_claimed_again_only_when_safe_and_only_once(agent, routed):
    past = timezone.now() - timedelta(seconds=1)
    safe = _queue(agent, routed, status=AgentCallStatus.CLAIMED, claims=1, lease_until=past, retry_safe=True)
    unsafe = _queue(agent, routed, status=AgentCallStatus.CLAIMED, claims=1, lease_until=past, retry_safe=False)
    twice = _queue(agent, routed, status=AgentCallStatus.CLAIMED, claims=2, lease_until=past, retry_safe=True)
    calls = _as_agent(agent.token).post(POLL, {"wait": 0, "max": 10}, format="json").json()["calls"]
    assert [(c["id"], c["claim"]) for c in calls] == [(safe.pk, 2)]
    for row in (unsafe, twice):
        row.refresh_from_db()
        assert row.status == AgentCallStatus.CLAIMED


def test_results_are_taken_from_the_agent_holding_the_claim_only(admin_user, agent, routed):
    other, other_token = agent_register(actor=admin_user, name="elsewhere")
    held = _queue(agent, routed, status=AgentCallStatus.CLAIMED, claims=2, lease_until=timezone.now())
    failed = _queue(agent, routed, status=AgentCallStatus.CLAIMED, claims=1, lease_until=timezone.now())
    body = {"results": [
        {"id": held.pk, "claim": 1, "status": 200, "body": ""},  # an earlier claim: stale
        {"id": held.pk, "claim": 2, "status": 201, "headers": {"X-Total-Count": "3"},
         "body": base64.b64encode(b'{"ok":true}').decode()},
        {"id": failed.pk, "claim": 1, "error": {"code": "read_timeout", "message": "no answer in 3 s"}},
    ]}
    assert _as_agent(other_token).post(RESULTS, body, format="json").json() == {
        "accepted": [], "stale": [held.pk, held.pk, failed.pk]}
    response = _as_agent(agent.token).post(RESULTS, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": [held.pk, failed.pk], "stale": [held.pk]}
    held.refresh_from_db()
    failed.refresh_from_db()
    assert (held.status, held.result_status, held.result_headers, bytes(held.result_body)) == (
        AgentCallStatus.DONE, 201, {"X-Total-Count": "3"}, b'{"ok":true}')
    assert (failed.status, failed.error_code, failed.error_message) == (
        AgentCallStatus.FAILED, "read_timeout", "no answer in 3 s")
    # Once answered, a repeat is stale: it changes nothing.
    assert _as_agent(agent.token).post(RESULTS, body, format="json").json()["accepted"] == []


@pytest.mark.parametrize(("result", "field"), [
    ({"id": 1, "claim": 1, "status": 200, "body": "not base64!"}, "results.0.body"),
    ({"id": 1, "claim": 1}, "results.0.non_field_errors"),
    ({"id": 1, "claim": 1, "status": 200, "colour": "red"}, "results.0.colour"),
    ({"id": 1, "claim": 1, "status": 99}, "results.0.status"),
])
def test_a_malformed_result_is_a_400_naming_the_field(agent, result, field):
    response = _as_agent(agent.token).post(RESULTS, {"results": [result]}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


@pytest.mark.parametrize(("path", "body"), [(POLL, {"wait": 0}), (RESULTS, {"results": []})])
def test_an_unknown_field_is_a_400_naming_it_and_nothing_is_claimed(agent, routed, path, body):
    """The API-wide rule (tests/api/test_unknown_fields.py), with the agent's own token."""
    queued = _queue(agent, routed)
    refused = _as_agent(agent.token).post(path, {**body, "colour": "red"}, format="json")
    assert refused.status_code == 400
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["errors"] == {"colour": ["Unknown field: this request does not accept it."]}
    queued.refresh_from_db()
    assert (queued.status, queued.claims) == (AgentCallStatus.QUEUED, 0)
    assert _as_agent(agent.token).post(path, body, format="json").status_code == 200


# -- agent-routed connectors ---------------------------------------------------------------------


def test_an_agent_routed_connector_names_an_active_agent_and_keeps_no_secret(admin_user, agent):
    domain_add(actor=admin_user, pattern=INTERNAL, note="ours")
    base = {"kind": "github", "name": "ghe", "base_url": f"https://{INTERNAL}", "route": "agent"}
    cases = [
        ({"auth_scheme": "none"}, "agent"),
        ({"auth_scheme": "bearer", "secret": SECRET, "agent": agent}, "auth_scheme"),
        ({"auth_scheme": "none", "secret": SECRET, "agent": agent}, "secret"),
        ({"auth_scheme": "none", "agent": 999999}, "agent"),
        ({"auth_scheme": "none", "agent": agent, "route": "sideways"}, "route"),
    ]
    for values, field in cases:
        with pytest.raises(ApplicationError) as refused:
            connector_create(actor=admin_user, **{**base, **values})
        assert field in refused.value.errors, (values, refused.value.errors)
    connector = connector_create(actor=admin_user, auth_scheme="none", agent=agent.pk, **base)
    assert (connector.route, connector.agent_id, connector.secret) == ("agent", agent.pk, "")
    event = AuditEvent.objects.filter(action="connector.created").latest("seq")
    assert (event.payload_data["route"], event.payload_data["agent"]) == ("agent", "edge")
    agent_revoke(actor=admin_user, agent=agent)
    with pytest.raises(ApplicationError) as revoked:
        connector_create(actor=admin_user, auth_scheme="none", agent=agent, **{**base, "name": "ghe-2"})
    assert "agent" in revoked.value.errors


def test_routing_through_an_agent_removes_the_secret_and_routing_back_rechecks_the_url(admin_user, agent):
    dns.ANSWERS[INTERNAL] = ["10.1.2.3"]  # internal
    domain_add(actor=admin_user, pattern=INTERNAL, note="ours")
    connector = connector_create(actor=admin_user, kind="servicenow", name="snow", base_url="https://acme.service-now.com",
                                 auth_scheme="bearer", secret=SECRET)
    connector = connector_update(actor=admin_user, connector=connector, route="agent", agent=agent, auth_scheme="none",
                                 base_url=f"https://{INTERNAL}")
    assert (connector.route, connector.secret, connector.secret_set_at) == ("agent", "", None)
    event = AuditEvent.objects.filter(action="connector.updated").latest("seq")
    assert event.payload_data["auth_removed"] is True
    assert "route" in event.payload_data["fields"]
    # Back to direct: the internal host now meets the SSRF guard (a private address).
    with pytest.raises(ApplicationError) as refused:
        connector_update(actor=admin_user, connector=connector, route="direct")
    assert "base_url" in refused.value.errors
    assert Connector.objects.get(pk=connector.pk).route == "agent"


@pytest.mark.parametrize(("url", "code"), [
    ("http://ghe.corp.test", "scheme"),
    ("https://user:pw@ghe.corp.test", "userinfo"),
    ("https://10.0.0.5", "ip_literal"),
    ("https://[::1]:8443", "ip_literal"),
    ("https://0x7f000001:8443", "ip_literal"),
    ("https://ghe.corp.test.evil.example", "host_not_allowed"),
    ("https://ghe.corp.test:0", "port"),
    ("ftp://ghe.corp.test", "scheme"),
])
def test_the_agent_route_url_check_refuses(url, code):
    with pytest.raises(UrlRefused) as refused:
        parse_agent_url(url, allowed_hosts=[INTERNAL])
    assert refused.value.code == code


def test_the_agent_route_url_check_takes_internal_names_on_any_port():
    target = parse_agent_url("https://GHE.corp.test:8443/api/v3?x=1", allowed_hosts=[INTERNAL])
    assert (target.host, target.port, target.path, target.url) == (INTERNAL, 8443, "/api/v3?x=1",
                                                                    "https://ghe.corp.test:8443/api/v3?x=1")
    assert parse_agent_url("https://ghe.corp.test", allowed_hosts=[INTERNAL]).port == 443


def test_the_client_refuses_before_queueing_when_the_agent_cannot_take_the_call(admin_user, agent, routed, no_sockets):
    client = ConnectorClient(routed, sleep=lambda s: None)
    # Never polled: offline, refused at once, nothing queued.
    with pytest.raises(CallFailed) as offline:
        client.get("/user")
    assert offline.value.code == "agent_offline"
    # Polling, but this test runs inside a transaction the agent could never see into.
    ConnectorAgent.objects.filter(pk=agent.pk).update(last_contact_at=timezone.now())
    with pytest.raises(CallRefused) as in_transaction:
        client.get("/user")
    assert in_transaction.value.code == "in_transaction"
    # A dry-run write is recorded and not queued; a revoked agent refuses every call.
    Connector.objects.filter(pk=routed.pk).update(dry_run=True)
    routed.refresh_from_db()
    result = ConnectorClient(routed).post("/repos/acme/app/issues", json={"title": "x"})
    assert result.dry_run
    assert result.address == "agent:edge"
    agent_revoke(actor=admin_user, agent=agent)
    with pytest.raises(CallRefused) as revoked:
        ConnectorClient(routed).get("/user")
    assert revoked.value.code == "agent_revoked"
    assert AgentCall.objects.count() == 0
    assert no_sockets == []
    outcomes = list(ConnectorCall.objects.filter(connector=routed).order_by("pk").values_list("outcome", flat=True))
    assert outcomes == ["network", "refused", "dry_run", "refused"]
    usage = ConnectorUsage.objects.get(connector_id=routed.pk)  # nothing was sent, nothing metered as sent
    assert (usage.calls, usage.writes, usage.failures, usage.refused, usage.dry_runs) == (0, 0, 1, 2, 1)


# -- admin, API, pruning ---------------------------------------------------------------------------


def test_the_admin_shows_the_token_once_and_revokes(web_as, admin_user, agent_user):
    admin = web_as(admin_user)
    page = admin.post("/admin/connectors/connectoragent/add/", {"name": "site-2"})
    assert page.status_code == 200, page.content[:500]
    assert "no-store" in page["Cache-Control"]
    registered = ConnectorAgent.objects.get(name="site-2")
    token = next(w for w in page.content.decode().replace('"', " ").split() if w.startswith("wagent_"))
    assert tokens.matches(token, registered.token_hash)
    ConnectorAgent.objects.filter(pk=registered.pk).update(version="1.0.0", last_contact_at=timezone.now())
    listing = admin.get("/admin/connectors/connectoragent/")
    assert listing.status_code == 200
    assert b"site-2" in listing.content
    assert b"1.0.0" in listing.content
    detail = admin.get(f"/admin/connectors/connectoragent/{registered.pk}/change/")
    assert detail.status_code == 200
    for response in (listing, detail):
        assert token.encode() not in response.content
    admin.post("/admin/connectors/connectoragent/", {"action": "revoke_selected", "_selected_action": [registered.pk]})
    assert ConnectorAgent.objects.get(pk=registered.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="connector.agent_revoked").count() == 1
    assert web_as(agent_user).get("/admin/connectors/connectoragent/").status_code in (302, 403)
    assert admin.get("/admin/connectors/connector/add/").content.count(b'name="route"') == 1


def test_the_connectors_api_takes_and_shows_the_route(api_as, admin_user, agent):
    domain_add(actor=admin_user, pattern=INTERNAL, note="ours")
    client = api_as(admin_user)
    created = client.post("/api/v1/connectors/", {"kind": "github", "name": "ghe", "base_url": f"https://{INTERNAL}",
                                                   "auth_scheme": "none", "route": "agent", "agent": agent.pk},
                          format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["route"], created.json()["agent"]) == ("agent", agent.pk)
    refused = client.patch(f"/api/v1/connectors/{created.json()['id']}/", {"auth_scheme": "bearer", "secret": "x"},
                           format="json")
    assert refused.status_code == 400
    assert "auth_scheme" in refused.json()["errors"]


def test_pruning_forgets_old_agent_calls(agent, routed):
    old = _queue(agent, routed, created_at=timezone.now() - timedelta(days=30))
    recent = _queue(agent, routed)
    connectors_prune()
    assert list(AgentCall.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not AgentCall.objects.filter(pk=old.pk).exists()
