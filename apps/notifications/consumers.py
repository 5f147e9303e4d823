"""How the notifications app reacts (registered from NotificationsConfig.ready):

* `notifications.fanout`, a subscriber of the ticket and SLA events: who hears of what,
  the in-app entries, and a message per outside channel (services/fanout.py);
* `notifications.admin_alerts`, a subscriber of `connector.disabled`: every active admin
  is told in the app (alerts.py);
* `notifications.email` and `notifications.slack`, subscribers of the app's own
  `notification.email_queued` / `notification.slack_queued`: send each message (or its
  burst or digest) when its time comes; a failing mail server or Slack is retried with
  backoff and ends dead-lettered with the reason, never blocking anyone's work.
"""

from __future__ import annotations

from apps.events.consumers import DeliveryContext, Subscriber, register_subscriber

from .alerts import on_connector_disabled
from .channels import email, slack
from .events import EmailQueued, SlackQueued
from .occasions import EVENT_TYPES
from .services.fanout import notifications_fan_out

# Events of apps beside this one, named (a sibling is never imported; docs/events.md).
CONNECTOR_DISABLED = "connector.disabled"


def on_event(event, delivery: DeliveryContext) -> None:
    notifications_fan_out(event, event_id=delivery.event_id, actor_id=delivery.actor_id)


def on_email(event, delivery: DeliveryContext) -> None:
    email.email_send_due(message_id=event.message_id)


def on_slack(event, delivery: DeliveryContext) -> None:
    slack.slack_send_due(message_id=event.message_id)


def on_admin_alert(event, delivery: DeliveryContext) -> None:
    on_connector_disabled(event, event_id=delivery.event_id)


def register() -> None:
    register_subscriber(Subscriber(name="notifications.fanout", event_types=EVENT_TYPES, handle=on_event,
                                   description="Tell the people concerned (rules, preferences, in-app)"))
    register_subscriber(Subscriber(name="notifications.email", event_types=frozenset({EmailQueued.event_type}),
                                   handle=on_email, description="Send notification emails"))
    register_subscriber(Subscriber(name="notifications.slack", event_types=frozenset({SlackQueued.event_type}),
                                   handle=on_slack, description="Send notifications to Slack"))
    register_subscriber(Subscriber(name="notifications.admin_alerts", event_types=frozenset({CONNECTOR_DISABLED}),
                                   handle=on_admin_alert, description="Alert the tenant's admins"))
