"""Re-encrypting every stored secret of the current tenant with the newest key
(`rotate_secrets`; policy `secrets.rotate`, which the baseline grants the system).

Every column registered with `apps.core.secrets.register_field` is rotated (connector
secrets, the Slack bot token). A value no configured key decrypts is left as it is and
counted; its owner's `on_unreadable` runs (a connector is disabled, with its event).
One transaction per tenant; the audit event carries the operator's reason and the
counts, never a value."""

from __future__ import annotations

from django.apps import apps as django_apps
from django.db import transaction

from apps.audit.services import audit_record
from apps.core import secrets
from apps.core.errors import ApplicationError
from apps.policies.services import policy_require

from ..actions import SECRETS_ROTATE


def secrets_rotate(*, actor, reason: str, actor_label: str | None = None) -> dict:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("A reason is required (--reason).", errors={"reason": ["required"]})
    columns = []
    unreadable_rows = []
    with transaction.atomic():
        policy_require(actor, SECRETS_ROTATE, None, {"operation": "rotate"})
        for entry in secrets.registered_fields():
            model = django_apps.get_model(entry.model)
            rotated = unreadable = 0
            rows = model.objects.select_for_update().exclude(**{entry.field: ""}).order_by("pk")
            for row in rows:
                try:
                    value = secrets.rotate(getattr(row, entry.field))
                except secrets.SecretUnreadable:
                    unreadable += 1
                    if entry.on_unreadable is not None:
                        unreadable_rows.append((entry, row))
                    continue
                model.objects.filter(pk=row.pk).update(**{entry.field: value})
                rotated += 1
            columns.append({"column": f"{entry.model}.{entry.field}", "rotated": rotated, "unreadable": unreadable})
        audit_record(actor=actor, actor_label=actor_label, action="secrets.rotated", target=None,
                     payload={"reason": reason[:500], "columns": columns})
    for entry, row in unreadable_rows:
        entry.on_unreadable(row)
    return {"columns": columns, "rotated": sum(c["rotated"] for c in columns),
            "unreadable": sum(c["unreadable"] for c in columns)}
