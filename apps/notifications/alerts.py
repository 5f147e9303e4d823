"""Alerts to a tenant's admins: things only an admin can put right (a connector switched
off because its secret can no longer be read, Slack switched off). Every active admin is
told in the app, whatever the notification rules say; once per (thing, admin)."""

from __future__ import annotations

from django.utils import timezone

from apps.accounts.models import Role, User

from .kinds import ADMIN_ALERTS, Kind
from .models import Notification


def admins_alert(*, kind: Kind, key: str, context: dict, event_id: int = 0) -> int:
    """Tell every active admin of `kind` (an admin alert), keyed by `key` (the same key
    twice tells nobody twice). Returns how many were told."""
    if kind not in ADMIN_ALERTS:
        raise ValueError(f"{kind} is not an admin alert")
    now = timezone.now()
    made = Notification.objects.bulk_create(
        [
            Notification(recipient=admin, kind=kind, key=key[:64], event_id=event_id, context=context, created_at=now)
            for admin in User.objects.filter(role=Role.ADMIN, is_active=True)
        ],
        ignore_conflicts=True,
    )
    return len(made)


def on_connector_disabled(event, *, event_id: int) -> int:
    """`connector.disabled`: its admins must act (set the secret again, or switch it on).
    The event carries ids only: the alert names the connector by id and links to its page."""
    return admins_alert(kind=Kind.CONNECTOR_DISABLED, key=f"connector-off:{event_id}", event_id=event_id,
                        context={"connector": event.connector_id, "reason": event.reason})
