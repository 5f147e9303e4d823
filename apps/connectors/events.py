"""The domain events of the connectors app (ids only; see apps/events/types.py)."""

from __future__ import annotations

from apps.events.types import DomainEvent, event_type


@event_type(
    "connector.disabled",
    summary="A connector was switched off: `reason` is `admin` (by a tenant admin) or `secret_unreadable` (no "
    "configured key decrypts its secret; the tenant's admins must set it again).",
)
class ConnectorDisabled(DomainEvent):
    connector_id: int
    reason: str
