"""After-commit events of the tickets domain: the hook for notifications, SLA clocks and
connectors, which subscribe to `ticket_event` (they must not write back synchronously).

Only ids travel; receivers load what they need through selectors, so internal comments
stay hidden from requesters there too (`selectors.comment_list(actor=...)`).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# sent with name=<"ticket.created" | "ticket.updated" | ...> and the ids as keyword arguments
ticket_event = Signal()


def publish(name: str, **ids) -> None:
    """Send `ticket_event` once the current transaction commits (never on rollback)."""

    def send() -> None:
        for receiver, result in ticket_event.send_robust(sender=None, name=name, **ids):
            if isinstance(result, Exception):
                logger.error("ticket event %s: receiver %r failed: %r", name, receiver, result)

    transaction.on_commit(send)
