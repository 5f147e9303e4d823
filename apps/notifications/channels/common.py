"""What the channel senders share."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from ..models import Message, MessageStatus


def due_state(message_id: int) -> tuple[str, object] | None:
    """(status, send_after) of a message, or None if it is gone: what every delivery asks
    first. Most deliveries of a fan-out find their message already sent along by another,
    so this is one light statement rather than a model query."""
    table = connection.ops.quote_name(Message._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status, send_after FROM {table} WHERE id = %s", [message_id])
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def mark_sent(sent: Iterable[tuple[Iterable[int], str]]) -> int:
    """Mark messages sent, each with the key of what carried it (an email's Message-ID, a
    Slack target): `sent` is (message ids, key) per email or post. One statement for a
    whole batch. Returns how many messages were marked."""
    ids, keys = [], []
    for message_ids, key in sent:
        for message_id in message_ids:
            ids.append(message_id)
            keys.append(key[:64])
    if not ids:
        return 0
    table = connection.ops.quote_name(Message._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS m SET status = %s, sent_at = now(), batch_key = u.key "
            "FROM unnest(%s::bigint[], %s::varchar[]) AS u(id, key) WHERE m.id = u.id",
            [MessageStatus.SENT.value, ids, keys],
        )
        return cursor.rowcount
