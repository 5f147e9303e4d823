"""The domain events of the notifications app (ids only; see apps/events/types.py).

Each message for an outside channel is announced once, to that channel's subscriber,
which sends it (or the burst or digest it belongs to) when its time has come."""

from __future__ import annotations

from apps.events.types import DomainEvent, event_type


@event_type("notification.email_queued", summary="An email message to a person was queued (sent when its time comes).")
class EmailQueued(DomainEvent):
    message_id: int


@event_type("notification.slack_queued", summary="A Slack message to a person was queued (sent when its time comes).")
class SlackQueued(DomainEvent):
    message_id: int
