"""Verified custom domains (tenant admins; policy `connector.configure`): hosts a
connector may call besides its kind's own (a customer's ServiceNow behind its own
domain). The admin says how the domain was verified; the addresses it resolves to are
still checked before every call."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.policies.services import policy_require

from .. import guard
from ..actions import CONNECTOR_CONFIGURE
from ..models import ConnectorDomain


@transaction.atomic
def domain_add(*, actor, pattern: str, note: str) -> ConnectorDomain:
    policy_require(actor, CONNECTOR_CONFIGURE, None, {"operation": "domain_add"})
    pattern = (pattern or "").strip().lower()
    if not guard.pattern_valid(pattern):
        message = gettext("A host name (tickets.example.com) or *.example.com; no IP address, port or path.")
        raise ApplicationError(message, errors={"pattern": [message]})
    if not (note or "").strip():
        message = gettext("Say how the domain was verified.")
        raise ApplicationError(message, errors={"note": [message]})
    if ConnectorDomain.objects.filter(pattern=pattern).exists():
        message = gettext("This domain is already verified.")
        raise ApplicationError(message, errors={"pattern": [message]})
    domain = ConnectorDomain.objects.create(pattern=pattern, note=note.strip()[:300],
                                            added_by=(getattr(actor, "email", "") or "system")[:200])
    audit_record(actor=actor, action="connector.domain_added", target=domain,
                 payload={"pattern": pattern, "verification": domain.note})
    return domain


@transaction.atomic
def domain_remove(*, actor, domain: ConnectorDomain) -> None:
    policy_require(actor, CONNECTOR_CONFIGURE, domain, {"operation": "domain_remove"})
    audit_record(actor=actor, action="connector.domain_removed", target=domain, payload={"pattern": domain.pattern})
    ConnectorDomain.objects.filter(pk=domain.pk).delete()
