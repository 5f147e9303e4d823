"""The domain events of the GitHub connector (ids only; see apps/events/types.py)."""

from __future__ import annotations

from apps.events.types import DomainEvent, event_type


@event_type(
    "github.delivery_received",
    summary="A GitHub webhook delivery was verified and stored (its signature matched, it was not seen before); "
    "the connectors app applies it to the linked ticket after commit.",
)
class GitHubDeliveryReceived(DomainEvent):
    delivery_id: int
    connector_id: int
