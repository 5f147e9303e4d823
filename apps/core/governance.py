"""The governance port: how the apps below `policies` and `audit` ask for a decision and
append an audit event.

The layers (docs/decisions/0015-layers-and-plug-points.md) put identity (`accounts`) and tenancy
(`tenants`) below governance, yet their writes are decided and audited like every other
(ARCHITECTURE.md, "Invariants"). Apps above the governance layer import
`apps.policies.services.policy_require` and `apps.audit.services.audit_record` directly;
the apps below call this port instead, and the two governance apps plug into it from
their `AppConfig.ready()`:

    governance.install_gate(require=policy_require, persist_denial=policy_denial_persist)
    governance.install_recorder(record=audit_record, record_system=audit_record_system)

Nothing installed means nothing allowed: without a gate every request is refused
(fail-closed, `GovernanceUnavailable` is a 403), and without a recorder a write fails
before it commits, so nothing is ever written unaudited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import PermissionDenied

logger = logging.getLogger(__name__)

SYSTEM = "system"


class GovernanceUnavailable(PermissionDenied):
    """No policy gate is installed (a deployment missing apps.policies): refuse."""


class AuditUnavailable(RuntimeError):
    """No audit recorder is installed: a write that must be audited cannot proceed."""


@dataclass
class _Port:
    require: Callable[..., Any] | None = None
    persist_denial: Callable[[BaseException], Any] | None = None
    record: Callable[..., Any] | None = None
    record_system: Callable[..., Any] | None = None


_port = _Port()


def install_gate(*, require: Callable[..., Any], persist_denial: Callable[[BaseException], Any]) -> None:
    _port.require, _port.persist_denial = require, persist_denial


def install_recorder(*, record: Callable[..., Any], record_system: Callable[..., Any]) -> None:
    _port.record, _port.record_system = record, record_system


def require(actor, action: str, resource=None, context: dict | None = None):
    """Ask the policy decision point; raises a 403 error unless the action is allowed."""
    if _port.require is None:
        raise GovernanceUnavailable(f"No policy decision point is installed; {action} is refused.")
    return _port.require(actor, action, resource, context)


def record(*, actor, action: str, target=None, payload: dict | None = None, actor_label: str | None = None):
    """Append an event done by `actor` (a user, or None for the system) to the tenant's chain."""
    if _port.record is None:
        raise AuditUnavailable(f"No audit recorder is installed; {action} cannot be recorded.")
    return _port.record(actor=actor, action=action, target=target, payload=payload, actor_label=actor_label)


def record_system(*, action: str, payload: dict | None = None, actor_label: str = SYSTEM, target=None):
    """Append an event done by the system, an operator or the platform (`actor_label`)."""
    if _port.record_system is None:
        raise AuditUnavailable(f"No audit recorder is installed; {action} cannot be recorded.")
    return _port.record_system(action=action, payload=payload, actor_label=actor_label, target=target)


def persist_denial(exc: BaseException) -> None:
    """At an edge (API handler, error middleware, task failure), once the transaction is
    gone: write again a policy denial that the caller's rollback took away."""
    if _port.persist_denial is None:
        return
    try:
        _port.persist_denial(exc)
    except Exception:  # noqa: BLE001 - the 403 stands; say loudly that the record is missing
        logger.exception("could not persist a policy denial")
