"""How SLA events reach people. A later notifications app implements `Notifier` and
is plugged in with the WARDEN_SLA_NOTIFIER setting (a dotted path).

`notify()` is called inside the event-processing transaction, once per clock and
processing batch, with the recipients that the escalation steps collected (each once)
and the most severe event. An implementation writes what it needs in that transaction
and defers anything external (email, chat) to `transaction.on_commit`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.utils.module_loading import import_string

from . import conf
from .choices import EventKind, Metric
from .models import SlaEvent, SlaNotification

logger = logging.getLogger(__name__)


@runtime_checkable
class Notifier(Protocol):
    def notify(self, *, recipients: Sequence, event: SlaEvent) -> None: ...


def describe(event: SlaEvent) -> tuple[str, str]:
    """(subject, body) of a notification about `event`."""
    ticket = event.ticket
    metric = Metric(event.metric).label.lower()
    if event.kind == EventKind.BREACH:
        subject = f"SLA breached: #{ticket.number} {metric}"
        headline = f"The {metric} target of ticket #{ticket.number} was breached at {event.crossed_at:%Y-%m-%d %H:%M %Z}."
    else:
        subject = f"SLA warning ({event.threshold}%): #{ticket.number} {metric}"
        headline = (
            f"Ticket #{ticket.number} used {event.threshold}% of its {metric} target at {event.crossed_at:%Y-%m-%d %H:%M %Z}."
        )
    due = event.clock.due_at
    body = f"{headline}\n\n#{ticket.number} {ticket.title}\nPriority {ticket.priority}, status {ticket.status}."
    if due is not None:
        body += f"\nDue {due:%Y-%m-%d %H:%M %Z}."
    return subject[:200], body


class DefaultNotifier:
    """An in-app record per recipient (`SlaNotification`) and an email after commit."""

    def notify(self, *, recipients: Sequence, event: SlaEvent) -> None:
        people = [r for r in recipients if getattr(r, "is_active", False)]
        if not people:
            return
        subject, body = describe(event)
        SlaNotification.objects.bulk_create(
            [SlaNotification(event=event, recipient=person, subject=subject, body=body) for person in people],
            ignore_conflicts=True,
        )
        if not conf.get("WARDEN_SLA_EMAIL"):
            return
        addresses = sorted({p.email for p in people if p.email})
        event_id = event.pk

        def send() -> None:
            try:
                send_mass_mail([(subject, body, settings.DEFAULT_FROM_EMAIL, [address]) for address in addresses])
            except Exception:  # mail is best effort: the in-app record is the source of truth
                logger.exception("SLA notification email for event %s failed", event_id)
                return
            SlaNotification.objects.filter(event_id=event_id, recipient__email__in=addresses).update(emailed=True)

        transaction.on_commit(send)


def get_notifier() -> Notifier:
    notifier = import_string(conf.get("WARDEN_SLA_NOTIFIER"))()
    if not isinstance(notifier, Notifier):
        raise TypeError(f"{conf.get('WARDEN_SLA_NOTIFIER')} does not implement notify(*, recipients, event)")
    return notifier
