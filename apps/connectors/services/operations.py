"""Operating connectors (tenant admins; policy `connector.operate`): Test connection,
and the dead letters of writes that finally failed (retry, discard).

The outside call runs outside any transaction: the policy decision is recorded first,
the call is made, then the outcome is audited."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.policies.services import policy_require

from ..actions import CONNECTOR_OPERATE
from ..choices import DeadLetterStatus
from ..client import ConnectorClient, ConnectorError
from ..models import Connector, DeadLetter
from ..registry import KINDS


@dataclass(frozen=True)
class TestOutcome:
    ok: bool
    reached: str  # who answered: host, address, HTTP status and what the answer says
    detail: str  # what went wrong ("" when ok)
    code: str = ""
    status_code: int | None = None


def _reached(connector: Connector, address: str, status_code: int | None, said: str = "") -> str:
    host = connector.base_url.split("://", 1)[-1].split("/", 1)[0]
    parts = [f"{host} ({address})" if address else host]
    if status_code:
        parts.append(f"HTTP {status_code}")
    if said:
        parts.append(said)
    return ", ".join(parts)


def connector_test(*, actor, connector: Connector, resolver=None, sleep=None) -> TestOutcome:
    """Call the kind's harmless test endpoint and say what was reached; the connector's
    health follows the outcome."""
    policy_require(actor, CONNECTOR_OPERATE, connector, {"operation": "test"})
    kind = KINDS.get(connector.kind)
    client = ConnectorClient(connector, resolver=resolver, **({"sleep": sleep} if sleep else {}))
    try:
        result = client.get(kind.test_path, operation="test", dead_letter=False)
    except ConnectorError as exc:
        outcome = TestOutcome(ok=False, reached=_reached(connector, exc.address, exc.status_code), detail=exc.message,
                              code=exc.code, status_code=exc.status_code)
    else:
        outcome = TestOutcome(ok=True, reached=_reached(connector, result.address, result.status_code,
                                                        kind.describe_answer(result)), detail="",
                              status_code=result.status_code)
    with transaction.atomic():
        audit_record(actor=actor, action="connector.tested", target=connector,
                     payload={"name": connector.name, "ok": outcome.ok, "reached": outcome.reached,
                              "error": outcome.code, "status_code": outcome.status_code})
    return outcome


def dead_letter_retry(*, actor, dead_letter: DeadLetter, resolver=None, sleep=None) -> bool:
    """Send a dead-lettered write again (same method, path, body, idempotency key).
    True when it went through; otherwise the dead letter stays open with the new error."""
    policy_require(actor, CONNECTOR_OPERATE, dead_letter.connector, {"operation": "dead_letter_retry"})
    if dead_letter.status != DeadLetterStatus.OPEN:
        raise ApplicationError(gettext("This dead letter is not waiting any more."))
    connector = Connector.objects.get(pk=dead_letter.connector_id)
    if connector.dry_run:
        raise ApplicationError(gettext("The connector is in dry-run mode: switch dry run off to send it."))
    client = ConnectorClient(connector, resolver=resolver, **({"sleep": sleep} if sleep else {}))
    try:
        result = client.request(dead_letter.method, dead_letter.path, json=dead_letter.body,
                                idempotency_key=dead_letter.idempotency_key,
                                operation=dead_letter.operation or "dead_letter_retry", dead_letter=False)
    except ConnectorError as exc:
        with transaction.atomic():
            DeadLetter.objects.filter(pk=dead_letter.pk).update(attempts=dead_letter.attempts + exc.attempts,
                                                                last_error=exc.message[:300])
            audit_record(actor=actor, action="connector.dead_letter_retried", target=connector,
                         payload={"dead_letter_id": dead_letter.pk, "ok": False, "error": exc.code,
                                  "status_code": exc.status_code})
        dead_letter.refresh_from_db()
        return False
    with transaction.atomic():
        now = timezone.now()
        DeadLetter.objects.filter(pk=dead_letter.pk).update(
            status=DeadLetterStatus.SUCCEEDED, resolved_at=now, resolved_by=_label(actor),
            attempts=dead_letter.attempts + result.attempts,
        )
        audit_record(actor=actor, action="connector.dead_letter_retried", target=connector,
                     payload={"dead_letter_id": dead_letter.pk, "ok": True, "status_code": result.status_code})
    dead_letter.refresh_from_db()
    return True


@transaction.atomic
def dead_letter_discard(*, actor, dead_letter: DeadLetter) -> None:
    policy_require(actor, CONNECTOR_OPERATE, dead_letter.connector, {"operation": "dead_letter_discard"})
    updated = DeadLetter.objects.filter(pk=dead_letter.pk, status=DeadLetterStatus.OPEN).update(
        status=DeadLetterStatus.DISCARDED, resolved_at=timezone.now(), resolved_by=_label(actor)
    )
    if updated:
        audit_record(actor=actor, action="connector.dead_letter_discarded", target=dead_letter.connector,
                     payload={"dead_letter_id": dead_letter.pk})


def _label(actor) -> str:
    return (getattr(actor, "email", "") or "system")[:200]
