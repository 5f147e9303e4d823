"""Who hears of an event: the `notifications.fanout` subscriber's work.

For each thing an event gives people to know (`occasions`), the tenant's rule names roles;
the roles become people of this tenant (`selectors.people_for`); the acting person, anyone
who may not see it (a requester and an internal note, a requester and another person's
ticket) and inactive people are left out; each remaining person gets one `Notification`
(the in-app entry) per thing told, and one `Message` per outside channel they take it on,
each announced to its channel's subscriber through the outbox. Everything here is database
work in the delivery's transaction: sending happens in the channel subscribers.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.events.services.emit import emit_many
from apps.tickets.models import Ticket

from .. import conf, schedule, selectors
from ..events import EmailQueued, SlackQueued
from ..kinds import Channel, Kind, Role
from ..models import Message, Notification
from ..occasions import occasions

logger = logging.getLogger(__name__)

# When one person is named for several things by one event, the most specific is told.
_PRECEDENCE = [Kind.MENTIONED, Kind.REQUESTER_REPLY, Kind.PUBLIC_REPLY, Kind.INTERNAL_NOTE]


def _zone(user) -> ZoneInfo:
    name = getattr(user, "time_zone", "") or getattr(connection.tenant, "time_zone", "") or settings.TIME_ZONE
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def notifications_fan_out(event, *, event_id: int, actor_id: int | None) -> list[Notification]:
    """Tell the people concerned of `event` (outbox event `event_id`). Idempotent: a
    second run finds everything told already and tells nobody again."""
    ticket = Ticket.objects.select_related("team").filter(pk=event.ticket_id).first()
    if ticket is None:
        return []
    told = occasions(event, ticket=ticket, event_id=event_id)
    if not told:
        return []
    told = [o for o in told if "sla_event" not in o.context or selectors.sla_event_worth_telling(o.context["sla_event"])]
    if not told:
        return []
    rules = selectors.rules()
    chosen: dict[tuple[str, int], tuple[object, object]] = {}  # (key, person) -> (occasion, user)
    for occasion in told:
        enabled, roles = rules[occasion.kind.value]
        if occasion.only:
            roles = list(occasion.only)
        elif occasion.kind == Kind.MENTIONED:
            roles = [Role.MENTIONED]  # mentions are not a rule's choice: the author named them
        elif not enabled:
            continue
        for user_id, (user, _roles) in selectors.people_for(roles, ticket=ticket, mentioned=occasion.mentioned).items():
            if user_id == actor_id:
                continue  # nobody is told of their own action
            if not selectors.may_hear(user, kind=occasion.kind.value, ticket=ticket):
                continue
            current = chosen.get((occasion.key, user_id))
            if current is None or _more_specific(occasion.kind, current[0].kind):
                chosen[(occasion.key, user_id)] = (occasion, user)
    if not chosen:
        return []
    existing = set(
        Notification.objects.filter(key__in={key for key, _ in chosen}, recipient_id__in={u for _, u in chosen})
        .values_list("key", "recipient_id")
    )
    now = timezone.now()
    fresh = [
        Notification(recipient=user, kind=occasion.kind, key=key, event_id=event_id, ticket=ticket,
                     actor_id=actor_id, context=occasion.context, created_at=now)
        for (key, user_id), (occasion, user) in chosen.items()
        if (key, user_id) not in existing
    ]
    Notification.objects.bulk_create(fresh)
    _queue_messages(fresh, now=now)
    return fresh


def _more_specific(kind: Kind, than: Kind) -> bool:
    order = {k: i for i, k in enumerate(_PRECEDENCE)}
    return order.get(kind, len(order)) < order.get(than, len(order))


def _queue_messages(notifications: list[Notification], *, now) -> None:
    """A Message per outside channel each person takes this kind on, announced to the
    channel's subscriber."""
    if not notifications:
        return
    by_kind: dict[str, list[Notification]] = {}
    for notification in notifications:
        by_kind.setdefault(notification.kind, []).append(notification)
    profiles = selectors.profiles_for({n.recipient for n in notifications})
    slack_on = conf.slack_connected()
    burst = int(conf.get("WARDEN_NOTIFICATIONS_EMAIL_BURST_SECONDS"))
    messages: list[Message] = []
    for kind, group in by_kind.items():
        channels = selectors.channels_for([n.recipient for n in group], kind)
        for notification in group:
            person = notification.recipient
            profile = profiles[person.pk]
            zone = _zone(person)
            wanted = channels[person.pk]
            if Channel.EMAIL in wanted and person.email:
                messages.append(Message(
                    notification=notification, channel=Channel.EMAIL,
                    send_after=schedule.send_after(now, digest=profile.email_digest, quiet_from=profile.quiet_from,
                                                   quiet_until=profile.quiet_until, zone=zone, burst_seconds=burst),
                ))
            if Channel.SLACK in wanted and slack_on:
                messages.append(Message(
                    notification=notification, channel=Channel.SLACK,
                    send_after=schedule.send_after(now, quiet_from=profile.quiet_from, quiet_until=profile.quiet_until,
                                                   zone=zone),
                ))
    Message.objects.bulk_create(messages)
    emit_many([(EmailQueued if m.channel == Channel.EMAIL else SlackQueued)(message_id=m.pk) for m in messages])
