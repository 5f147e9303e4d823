"""How the GitHub connector reacts (registered from `github.ready()`): the subscriber
`connectors.github` applies each stored delivery to its linked ticket after commit,
retried by the outbox like every subscriber."""

from __future__ import annotations

from apps.events.consumers import DeliveryContext, Subscriber, register_subscriber

from .events import GitHubDeliveryReceived
from .inbound import github_delivery_process

NAME = "connectors.github"


def on_delivery(event: GitHubDeliveryReceived, delivery: DeliveryContext) -> None:
    github_delivery_process(delivery_id=event.delivery_id)


def register() -> None:
    register_subscriber(Subscriber(name=NAME, event_types=frozenset({GitHubDeliveryReceived.event_type}),
                                   handle=on_delivery, description="Apply GitHub webhook deliveries to linked tickets"))
