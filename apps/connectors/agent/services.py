"""Every write of the customer agent.

* Registering and revoking agents: tenant admins, policy `connector.configure`
  (operations `agent_register`, `agent_revoke`), audited (`connector.agent_registered`,
  `connector.agent_revoked`). The plain token is returned once by `agent_register` and
  never stored.
* What an agent's poll and results change (its last contact, the calls it claims and
  answers) is the system's own transport state, like ConnectorCall records: no policy
  decision, no audit event; the agent is authenticated by its token, and sees only the
  calls queued for it in its own tenant's schema.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.policies.services import policy_require

from .. import conf as connector_conf
from ..actions import CONNECTOR_CONFIGURE
from . import conf, tokens, wake
from .models import AgentCall, AgentCallStatus, ConnectorAgent

NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,39}$")
# What an agent may report instead of an answer (anything else is recorded as `network`).
ERROR_CODES = frozenset({"connect_timeout", "read_timeout", "network", "tls", "host_not_allowed", "bad_call",
                         "too_large"})


def _label(actor) -> str:
    return (getattr(actor, "email", "") or "system")[:200]


# -- registering and revoking ---------------------------------------------------------


@transaction.atomic
def agent_register(*, actor, name: str) -> tuple[ConnectorAgent, str]:
    """A new agent and its token (plain, to show once: only its hash is kept)."""
    policy_require(actor, CONNECTOR_CONFIGURE, None, {"operation": "agent_register"})
    name = (name or "").strip().lower()
    if not NAME.match(name):
        message = gettext("Use lower case letters, digits and hyphens (up to 64).")
        raise ApplicationError(message, errors={"name": [message]})
    if ConnectorAgent.objects.filter(name=name).exists():
        message = gettext("An agent with this name exists.")
        raise ApplicationError(message, errors={"name": [message]})
    new = tokens.make()
    agent = ConnectorAgent.objects.create(name=name, token_id=new.token_id, token_hash=new.token_hash,
                                          created_by=_label(actor))
    audit_record(actor=actor, action="connector.agent_registered", target=agent, payload={"name": name})
    return agent, new.token


@transaction.atomic
def agent_revoke(*, actor, agent: ConnectorAgent) -> bool:
    """Revoke for good: from the next request on, its token gets 401 and nothing. Calls
    still queued for it fail. True when it was active until now."""
    policy_require(actor, CONNECTOR_CONFIGURE, agent, {"operation": "agent_revoke"})
    now = timezone.now()
    updated = ConnectorAgent.objects.filter(pk=agent.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=_label(actor))
    if not updated:
        return False
    agent.revoked_at, agent.revoked_by = now, _label(actor)
    AgentCall.objects.filter(agent=agent, status__in=[AgentCallStatus.QUEUED, AgentCallStatus.CLAIMED]).update(
        status=AgentCallStatus.FAILED, error_code="agent_revoked", error_message="The agent was revoked.",
        finished_at=now, body=None)
    connectors = sorted(agent.connectors.values_list("name", flat=True))
    audit_record(actor=actor, action="connector.agent_revoked", target=agent,
                 payload={"name": agent.name, "connectors": connectors})
    return True


# -- an agent's requests ----------------------------------------------------------------


def agent_authenticate(*, token: str) -> ConnectorAgent | None:
    """The active agent whose token this is, else None (unknown, malformed or revoked)."""
    token_id = tokens.token_id(token)
    agent = ConnectorAgent.objects.filter(token_id=token_id).first() if token_id else None
    if not tokens.matches(token or "", agent.token_hash if agent is not None else None):
        return None
    if agent is None or agent.revoked_at is not None:
        return None
    return agent


def agent_record_contact(*, agent: ConnectorAgent, version: str, address: str) -> None:
    version = version if VERSION.match(version or "") else ""
    now = timezone.now()
    ConnectorAgent.objects.filter(pk=agent.pk).update(last_contact_at=now, version=version,
                                                      last_address=(address or "")[:64])
    agent.last_contact_at, agent.version, agent.last_address = now, version, (address or "")[:64]


def agent_timeouts() -> tuple[float, float]:
    """The connect and read timeouts an agent applies: the connectors' own, the read one
    shortened so that a call ends well inside its lease."""
    connect = float(connector_conf.get("WARDEN_CONNECTORS_CONNECT_TIMEOUT"))
    read = float(connector_conf.get("WARDEN_CONNECTORS_READ_TIMEOUT"))
    lease = conf.seconds("WARDEN_CONNECTORS_AGENT_LEASE_SECONDS")
    return connect, max(1.0, min(read, lease - connect - 2.0))


def _claim_once(agent: ConnectorAgent, limit: int) -> list[AgentCall]:
    now = timezone.now()
    lease_until = now + timedelta(seconds=conf.seconds("WARDEN_CONNECTORS_AGENT_LEASE_SECONDS"))
    max_claims = int(conf.get("WARDEN_CONNECTORS_AGENT_MAX_CLAIMS"))
    lapsed = Q(status=AgentCallStatus.CLAIMED, lease_until__lt=now, retry_safe=True, claims__lt=max_claims)
    with transaction.atomic():
        calls = list(
            AgentCall.objects.select_for_update(skip_locked=True)
            .filter(agent=agent, expires_at__gt=now)
            .filter(Q(status=AgentCallStatus.QUEUED) | lapsed)
            .order_by("pk")[:limit]
        )
        for call in calls:
            call.status, call.claims = AgentCallStatus.CLAIMED, call.claims + 1
            call.claimed_at, call.lease_until = now, lease_until
            call.save(update_fields=["status", "claims", "claimed_at", "lease_until"])
    return calls


def calls_claim(*, agent: ConnectorAgent, limit: int, wait_seconds: float) -> list[AgentCall]:
    """Up to `limit` calls of this agent (queued ones, and lapsed leases of calls safe to
    send twice), claimed under a lease; waits up to `wait_seconds` (capped by
    WARDEN_CONNECTORS_AGENT_POLL_SECONDS) for one to come."""
    limit = max(1, min(int(limit), int(conf.get("WARDEN_CONNECTORS_AGENT_BATCH"))))
    wait_seconds = max(0.0, min(float(wait_seconds), conf.seconds("WARDEN_CONNECTORS_AGENT_POLL_SECONDS")))
    deadline = time.monotonic() + wait_seconds
    for _ in range(int(wait_seconds / wake.SLICE_SECONDS) + 2):  # bounded in count as well as in time
        calls = _claim_once(agent, limit)
        remaining = deadline - time.monotonic()
        if calls or remaining <= 0:
            return calls
        wake.agent_wait(agent.pk, remaining)
    return []


@dataclass(frozen=True)
class AgentResult:
    call_id: int
    claim: int
    status_code: int | None = None
    headers: dict | None = None
    body: bytes | None = None
    error_code: str = ""
    error_message: str = ""


def results_store(*, agent: ConnectorAgent, results: list[AgentResult]) -> tuple[list[int], list[int]]:
    """Store the answers of the calls this agent holds. A result for a call it no longer
    holds (another claim took it, it expired, another agent's, unknown) is `stale` and
    changes nothing. Returns (accepted ids, stale ids)."""
    accepted: list[int] = []
    stale: list[int] = []
    max_body = int(conf.get("WARDEN_CONNECTORS_AGENT_MAX_BODY_BYTES"))
    for result in results:
        values: dict = {"finished_at": timezone.now(), "lease_until": None}
        if result.error_code or result.status_code is None:
            code = result.error_code if result.error_code in ERROR_CODES else "network"
            values.update(status=AgentCallStatus.FAILED, error_code=code,
                          error_message=(result.error_message or code)[:300])
        elif result.body is not None and len(result.body) > max_body:
            values.update(status=AgentCallStatus.FAILED, error_code="too_large",
                          error_message=f"The answer is larger than {max_body} bytes.")
        else:
            values.update(status=AgentCallStatus.DONE, result_status=result.status_code,
                          result_headers=result.headers or {}, result_body=result.body or b"")
        updated = AgentCall.objects.filter(pk=result.call_id, agent=agent, claims=result.claim,
                                           status=AgentCallStatus.CLAIMED).update(**values)
        if updated:
            accepted.append(result.call_id)
            wake.call_notify(result.call_id)
        else:
            stale.append(result.call_id)
    return accepted, stale


def calls_prune(*, before: datetime) -> int:
    """Forget agent calls queued before `before` (with the recent-call retention)."""
    deleted, _ = AgentCall.objects.filter(created_at__lt=before).delete()
    return deleted
