"""The agent route's transport: what ConnectorClient does instead of http.send() when a
connector's route is "agent" (docs/decisions/0024-customer-agent.md).

Every step before it is the client's, unchanged (disabled, region, dry run, circuit,
write cap, metering, retries, records, dead letters). One attempt here is:

1. refused at once when the connector has no active agent, when its agent has not polled
   for WARDEN_CONNECTORS_AGENT_OFFLINE_SECONDS (`agent_offline`: nothing is queued for an
   agent that is not there), or inside a database transaction (the agent could never see
   the queued row); `ensure_available`, which the client also asks before its first
   attempt (so nothing is metered as sent);
2. queued as an `AgentCall` (method, URL, headers without credentials: the agent adds
   the ones it holds; body), and the agent woken (wake.py);
3. waited for, at most WARDEN_CONNECTORS_AGENT_WAIT_SECONDS: the answer comes back as a
   response the client treats like any other (a 3xx is refused, 429/5xx retried, ...),
   the agent's network errors as requests' own exceptions or `AgentCallError`. A claim
   whose lease ran out is claimed again by a poll (once, and only when safe to send
   twice); otherwise it fails as `agent_lost`. At the deadline the call expires, so an
   agent coming back later never makes it.

The answer's bodies are wiped from the row once read (metadata only is kept).
"""

from __future__ import annotations

import json as jsonlib
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from django.db import connection
from django.utils import timezone
from requests.structures import CaseInsensitiveDict

from ..guard import Endpoint, UrlRefused
from . import conf, wake
from .guard import parse_agent_url
from .models import AgentCall, AgentCallStatus, ConnectorAgent, Route

ROUTE = Route.AGENT
# Never handed to an agent: credentials (the agent adds its own), and what the agent's
# HTTP client sets itself.
DROPPED_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "host", "content-length", "transfer-encoding", "connection",
    "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect",
})


class AgentCallError(Exception):
    """An attempt the agent route could not complete. `retry`: "never", "if_safe" (when
    the call may be sent twice, as for a read timeout) or "always"; `refused`: nothing
    was or will be sent (a configuration problem), like the URL guard's refusals."""

    def __init__(self, code: str, message: str, *, retry: str = "never", refused: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.retry, self.refused = code, message, retry, refused


@dataclass
class AgentResponse:
    status_code: int
    headers: CaseInsensitiveDict = field(default_factory=CaseInsensitiveDict)
    content: bytes = b""


def is_agent_routed(connector) -> bool:
    return getattr(connector, "route", None) == ROUTE


def _agent(connector) -> ConnectorAgent:
    agent = ConnectorAgent.objects.filter(pk=connector.agent_id).first() if connector.agent_id else None
    if agent is None:
        raise UrlRefused("agent_missing", "The connector is routed through a customer agent but has none.")
    if agent.revoked_at is not None:
        raise UrlRefused("agent_revoked", f"The connector's customer agent {agent.name} is revoked.")
    return agent


def check_url(url: str, *, hosts: list[str], connector) -> Endpoint:
    """The endpoint of an agent-routed call (guard.py here; no DNS), or UrlRefused. The
    "address" is the agent's name: what the records show as reached."""
    agent = _agent(connector)
    target = parse_agent_url(url, allowed_hosts=hosts)
    return Endpoint(target=target, address=f"agent:{agent.name}"[:64])


def _url(endpoint: Endpoint, params: dict | None) -> str:
    url = endpoint.target.url
    if params:
        url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
    return url


def ensure_available(connector) -> ConnectorAgent:
    """The connector's agent when a call can be queued for it now, else AgentCallError:
    revoked (refused), not polling (`agent_offline`), or the caller inside a database
    transaction (refused: the agent could never see the row). The client asks before its
    first attempt, so nothing is metered as sent for an agent that is away."""
    try:
        agent = _agent(connector)
    except UrlRefused as exc:
        raise AgentCallError(exc.code, exc.message, refused=True) from None
    offline_after = timedelta(seconds=conf.seconds("WARDEN_CONNECTORS_AGENT_OFFLINE_SECONDS"))
    if agent.last_contact_at is None or agent.last_contact_at < timezone.now() - offline_after:
        seen = agent.last_contact_at.isoformat(timespec="seconds") if agent.last_contact_at else "never"
        raise AgentCallError("agent_offline", f"The customer agent {agent.name} is not polling (last contact: {seen}).")
    if connection.in_atomic_block:
        raise AgentCallError("in_transaction", "An agent-routed call was made inside a database transaction; the "
                             "agent could not see it. Call connectors after commit.", refused=True)
    return agent


def send(connector, endpoint: Endpoint, *, method: str, headers: dict[str, str], params: dict | None = None,
         json: Any = None, retry_safe: bool = False) -> AgentResponse:
    """One attempt through the connector's agent (see the module docstring)."""
    agent = ensure_available(connector)  # again: the agent may have gone during a back-off
    now = timezone.now()
    body = None
    send_headers = {k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS}
    if json is not None:
        body = jsonlib.dumps(json, separators=(",", ":")).encode("utf-8")
        send_headers.setdefault("Content-Type", "application/json")
    wait = conf.seconds("WARDEN_CONNECTORS_AGENT_WAIT_SECONDS")
    call = AgentCall.objects.create(
        agent=agent, connector_id=connector.pk, method=method, url=_url(endpoint, params)[:2000], headers=send_headers,
        body=body, retry_safe=retry_safe, created_at=now, expires_at=now + timedelta(seconds=wait),
    )
    wake.agent_notify(agent.pk)
    return _wait_for(call, wait)


def _wait_for(call: AgentCall, wait: float) -> AgentResponse:
    deadline = time.monotonic() + wait
    max_claims = int(conf.get("WARDEN_CONNECTORS_AGENT_MAX_CLAIMS"))
    rows = AgentCall.objects.filter(pk=call.pk)
    for _ in range(int(wait / wake.SLICE_SECONDS) + 10):  # bounded in count as well as in time
        row = rows.values("status", "claims", "lease_until", "retry_safe", "result_status", "result_headers",
                          "result_body", "error_code", "error_message").first()
        if row is None:
            raise AgentCallError("agent_call_gone", "The queued call was removed before it was answered.")
        if row["status"] == AgentCallStatus.DONE:
            rows.update(body=None, result_body=None)
            return AgentResponse(status_code=int(row["result_status"]),
                                 headers=CaseInsensitiveDict(row["result_headers"] or {}),
                                 content=bytes(row["result_body"] or b""))
        if row["status"] == AgentCallStatus.FAILED:
            rows.update(body=None)
            raise _failure(row["error_code"], row["error_message"])
        if row["status"] == AgentCallStatus.CLAIMED and row["lease_until"] and row["lease_until"] < timezone.now() \
                and (not row["retry_safe"] or row["claims"] >= max_claims):
            lost = rows.filter(status=AgentCallStatus.CLAIMED, claims=row["claims"]).update(
                status=AgentCallStatus.FAILED, error_code="agent_lost", finished_at=timezone.now(), body=None,
                error_message="The agent took the call and did not answer before its lease ran out.")
            if lost:
                raise _failure("agent_lost", "The agent took the call and did not answer before its lease ran out.")
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            expired = rows.filter(status__in=[AgentCallStatus.QUEUED, AgentCallStatus.CLAIMED]).update(
                status=AgentCallStatus.EXPIRED, finished_at=timezone.now(), body=None)
            if expired and row["status"] == AgentCallStatus.QUEUED:
                raise AgentCallError("agent_timeout", f"The customer agent did not take the call within {wait:g} s.")
            if expired:
                raise AgentCallError("agent_timeout", f"The customer agent did not answer within {wait:g} s.",
                                     retry="if_safe")
            continue  # answered at the last moment: read it
        wake.call_wait(call.pk, remaining)
    raise AgentCallError("agent_timeout", f"The customer agent did not answer within {wait:g} s.")


def _failure(code: str, message: str) -> Exception:
    """The client-side exception for what the agent reported (or Warden concluded)."""
    text = f"The agent: {message}" if message else f"The agent failed ({code})."
    if code == "connect_timeout":
        return requests.ConnectTimeout(text)
    if code == "read_timeout":
        return requests.ReadTimeout(text)
    if code in ("host_not_allowed", "bad_call", "agent_revoked"):
        return AgentCallError(f"agent_{code}" if not code.startswith("agent_") else code, text, refused=True)
    if code in ("network", "tls", "agent_lost"):
        return AgentCallError(code if code == "agent_lost" else f"agent_{code}", text, retry="if_safe")
    return AgentCallError(f"agent_{code}"[:40], text)
