"""Reading the audit chain: lists, verification and export. Nothing here writes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import keys
from .models import AuditCheckpoint, AuditEvent, AuditHead
from .verify import GENESIS_HASH, SEGMENT_FORMAT, ChainVerifier, VerifyResult, format_timestamp

ROW_FIELDS = (
    "seq",
    "created_at",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "request_id",
    "payload",
    "prev_hash",
    "hash",
)
CHUNK_SIZE = 2000


def audit_event_list() -> QuerySet[AuditEvent]:
    """Events of the current tenant, newest first."""
    return AuditEvent.objects.order_by("-seq")


def audit_head_get() -> dict:
    """The head record as {seq, hash}; an empty chain if the row is missing."""
    head = AuditHead.objects.filter(pk=1).values("seq", "hash").first()
    return head or {"seq": 0, "hash": GENESIS_HASH}


def _row(values: dict, *, for_export: bool) -> dict:
    row = dict(values)
    row["created_at"] = format_timestamp(row["created_at"])
    payload = bytes(row.pop("payload"))
    if not for_export:
        row["payload"] = payload
    else:
        try:
            row["payload"] = payload.decode("utf-8")
        except UnicodeDecodeError:  # only after tampering; keep the exact bytes
            row["payload_b64"] = base64.b64encode(payload).decode("ascii")
    return row


def _rows(*, since_seq: int, for_export: bool) -> Iterator[dict]:
    values = AuditEvent.objects.filter(seq__gte=since_seq).order_by("seq").values(*ROW_FIELDS)
    for item in values.iterator(chunk_size=CHUNK_SIZE):
        yield _row(item, for_export=for_export)


def _checkpoints(*, since_seq: int) -> list[dict]:
    rows = (
        AuditCheckpoint.objects.filter(seq__gte=since_seq - 1)
        .order_by("seq")
        .values("seq", "hash", "created_at", "key_id", "signature", "algorithm")
    )
    return [{**cp, "created_at": format_timestamp(cp["created_at"])} for cp in rows]


@contextmanager
def audit_snapshot() -> Iterator[None]:
    """One consistent view of events, checkpoints and head while appends go on.

    Outside any transaction this opens a REPEATABLE READ, READ ONLY one; inside a
    caller's transaction (tests, an export service) it reuses that one.
    """
    outer = connection.in_atomic_block
    with transaction.atomic():
        if not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


# The verifier's columns in `ChainVerifier.feed_values` order, created_at already in the
# hashed text form (formatted by PostgreSQL: no datetime objects per row).
_VERIFY_SQL = (
    "SELECT seq, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor_id, "
    "actor_label, action, target_type, target_id, request_id, payload, prev_hash, hash "
    "FROM {table} WHERE seq >= %s ORDER BY seq"
)
VERIFY_FETCH = 10_000


def _stream_into(verifier: ChainVerifier, *, since_seq: int) -> None:
    """Feed every event from `since_seq` on, in seq order, until the chain fails.

    A server-side cursor on the raw psycopg connection, fetched in large batches of
    plain tuples: a million events verify without holding them in memory and without
    building a model instance or a dict per row (docs/audit.md, Verification).
    """
    with connection.cursor():
        pass  # opens the connection and puts it in the tenant's search_path
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    feed = verifier.feed_values
    with connection.connection.cursor(name=f"audit_verify_{id(verifier):x}") as cursor:
        cursor.itersize = VERIFY_FETCH
        cursor.execute(_VERIFY_SQL.format(table=table), [since_seq])
        while rows := cursor.fetchmany(VERIFY_FETCH):
            for row in rows:
                if not feed(*row):
                    return


def audit_chain_verify(*, since_seq: int = 1) -> VerifyResult:
    """Verify the current tenant's chain (streamed in seq order) with the configured keys."""
    with audit_snapshot():
        head = audit_head_get()
        checkpoints = _checkpoints(since_seq=since_seq)
        anchor = None
        if since_seq > 1:
            anchor = AuditEvent.objects.filter(seq=since_seq - 1).values_list("hash", flat=True).first()
        verifier = ChainVerifier(
            tenant_id=connection.schema_name,
            checkpoints=checkpoints,
            keys=keys.verification_keys(),
            start_seq=since_seq,
            anchor_hash=anchor,
            head=head,
            ed25519=keys.ed25519_verify_fast,
        )
        _stream_into(verifier, since_seq=since_seq)
        return verifier.finish()


def audit_export_segment(since_seq: int | None = None) -> dict:
    """The chain from `since_seq` (default 1) as plain JSON data, for the evidence pack.

    `apps.audit.verify.verify_segment()` checks exactly this dict, offline. Rows carry
    the canonical payload as text (`payload`; `payload_b64` if the stored bytes are
    not UTF-8, which only tampering produces). Checkpoints from `since_seq - 1` on are
    included; a segment that starts after 1 is anchored by the checkpoint at
    `since_seq - 1` when there is one, else by `anchor_hash` (the stored hash of
    `since_seq - 1`, unsigned). To have the export end on a signed checkpoint, call
    `services.audit_checkpoint_create()` first.
    """
    since = max(1, since_seq or 1)
    with audit_snapshot():
        anchor = None
        if since > 1:
            anchor = AuditEvent.objects.filter(seq=since - 1).values_list("hash", flat=True).first()
        return {
            "format": SEGMENT_FORMAT,
            "tenant_id": connection.schema_name,
            "since_seq": since,
            "anchor_hash": anchor,
            "exported_at": format_timestamp(timezone.now()),
            "head": audit_head_get(),
            "checkpoints": _checkpoints(since_seq=since),
            "rows": list(_rows(since_seq=since, for_export=True)),
        }
