"""The Slack cards follow their proposal (registered from `TriageConfig.ready()`), after
commit, retried by the outbox: `triage.slack_card_post` posts the card of a new proposal,
`triage.slack_card_update` shows a decision and a write-back on it."""

from __future__ import annotations

from apps.events.consumers import DeliveryContext, Subscriber, register_subscriber

from ..events import ProposalCreated, ProposalDecided, ProposalWrittenBack
from .services import card_post, card_refresh

POST = "triage.slack_card_post"
UPDATE = "triage.slack_card_update"


def on_created(event: ProposalCreated, delivery: DeliveryContext) -> None:
    if not event.auto_approved:
        card_post(proposal_id=event.proposal_id)


def on_changed(event, delivery: DeliveryContext) -> None:
    card_refresh(proposal_id=event.proposal_id)


def register() -> None:
    register_subscriber(Subscriber(
        name=POST, event_types=frozenset({ProposalCreated.event_type}), handle=on_created,
        description="Post a new proposal's approval card to Slack"))
    register_subscriber(Subscriber(
        name=UPDATE, event_types=frozenset({ProposalDecided.event_type, ProposalWrittenBack.event_type}),
        handle=on_changed, description="Show a proposal's decision and write-back on its Slack card"))
