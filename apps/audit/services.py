"""Appending to the tenant's audit chain, and signing checkpoints.

Every other service calls `audit_record` (or `audit_record_system`) inside its own
transaction, so the business write and its audit event commit or roll back together.
An append locks the chain head until that transaction ends: call it once the write has
been validated, as late as is natural, to keep the lock short.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from apps.core import request_id

from . import keys
from .models import AuditCheckpoint, AuditEvent, AuditHead
from .payloads import AuditPayloadError, canonical_payload
from .verify import GENESIS_HASH, checkpoint_message, event_hash_prefix, event_hash_suffix, format_timestamp

logger = logging.getLogger(__name__)

_ACTION = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$")
SYSTEM = "system"
PUBLIC_SCHEMA = "public"


class AuditUnavailable(RuntimeError):
    """Audit events can only be written inside a tenant schema."""


def _checkpoint_every() -> int:
    return int(getattr(settings, "WARDEN_AUDIT_CHECKPOINT_EVERY", 100))


def _checkpoint_minutes() -> int:
    return int(getattr(settings, "WARDEN_AUDIT_CHECKPOINT_MINUTES", 60))


def tenant_id() -> str:
    """The tenant id bound into every hash: the current schema name."""
    schema = connection.schema_name
    if not schema or schema == PUBLIC_SCHEMA:
        raise AuditUnavailable("audit events live in tenant schemas; call this inside tenant_context() or a tenant request")
    return schema


def tenant_is_metadata_only() -> bool:
    """Whether the current tenant keeps connector content as metadata only.

    Unknown (no tenant row for the schema) counts as metadata-only, the safe default.
    """
    from apps.tenants.models import DataMode, Tenant

    mode = getattr(connection.tenant, "data_mode", None)
    if mode is None:  # a FakeTenant from schema_context(): ask the public table
        mode = Tenant.objects.filter(schema_name=connection.schema_name).values_list("data_mode", flat=True).first()
    return mode != DataMode.FULL_CONTENT


def _tables() -> tuple[str, str]:
    quote = connection.ops.quote_name
    return quote(AuditEvent._meta.db_table), quote(AuditHead._meta.db_table)


def _lock_head(cursor) -> tuple[int, str]:
    """(seq, hash) of the head, locked until the transaction ends."""
    _, head_table = _tables()
    cursor.execute(f"SELECT seq, hash FROM {head_table} WHERE id = 1 FOR UPDATE")  # noqa: S608
    row = cursor.fetchone()
    if row is None:
        # Normally created by the migration; tolerate a schema created otherwise. If
        # events exist, the restarted seq collides with seq 1 and the append fails loudly.
        cursor.execute(
            f"INSERT INTO {head_table} (id, seq, hash) VALUES (1, 0, %s) ON CONFLICT (id) DO NOTHING",  # noqa: S608
            [GENESIS_HASH],
        )
        cursor.execute(f"SELECT seq, hash FROM {head_table} WHERE id = 1 FOR UPDATE")  # noqa: S608
        row = cursor.fetchone()
    return int(row[0]), str(row[1])


# One statement, one round trip, for the whole append: lock the head, take the next seq,
# stamp the time, hash, insert the event, move the head. The fields that are only known
# under the head's lock (seq, prev_hash, created_at) are hashed by PostgreSQL between a
# prefix and a suffix that `verify.py` builds; the result is exactly `verify.event_hash`
# (a test holds the two together). docs/decisions/0010-audit-append-in-one-statement.md.
_APPEND_SQL = """
WITH head AS (
    SELECT seq + 1 AS seq, hash AS prev_hash FROM {head} WHERE id = 1 FOR UPDATE
), stamped AS (
    SELECT head.seq, head.prev_hash, clock.now AS created_at,
           to_char(clock.now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_text
    FROM head, LATERAL (SELECT clock_timestamp() AS now) AS clock
), hashed AS (
    SELECT seq, prev_hash, created_at, encode(sha256(
        %s::bytea
        || int8send(octet_length(seq::text)::int8) || convert_to(seq::text, 'UTF8')
        || int8send(octet_length(prev_hash)::int8) || convert_to(prev_hash, 'UTF8')
        || int8send(octet_length(created_text)::int8) || convert_to(created_text, 'UTF8')
        || %s::bytea
    ), 'hex') AS hash
    FROM stamped
), appended AS (
    INSERT INTO {events} (seq, created_at, actor_id, actor_label, action, target_type, target_id,
                          payload, request_id, prev_hash, hash)
    SELECT seq, created_at, %s, %s, %s, %s, %s, %s, %s, prev_hash, hash FROM hashed
    RETURNING seq, created_at, prev_hash, hash
)
UPDATE {head} SET seq = appended.seq, hash = appended.hash, updated_at = appended.created_at
FROM appended WHERE {head}.id = 1
RETURNING appended.seq, appended.created_at, appended.prev_hash, appended.hash
"""


_APPEND_PREPARED = "warden_audit_append_v1"
_APPEND_TYPES = "bytea, bytea, bigint, text, text, text, text, bytea, text"
# Raw connections that hold the prepared append. Prepared statements belong to the
# server session, survive rollbacks, and PostgreSQL re-parses one when the search_path
# (the tenant) differs from its last use, so one per connection serves every tenant.
_prepared_on: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _execute_append(cursor, params: list) -> None:
    """EXECUTE the append, PREPAREd once per database connection: the statement is
    planned once instead of on every append (planning cost as much as running it)."""
    raw = connection.connection
    if raw not in _prepared_on:
        event_table, head_table = _tables()
        numbered = _APPEND_SQL.format(events=event_table, head=head_table)
        for number in range(1, 10):
            numbered = numbered.replace("%s", f"${number}", 1)
        cursor.execute(f"PREPARE {_APPEND_PREPARED} ({_APPEND_TYPES}) AS {numbered}")
        _prepared_on[raw] = True
    cursor.execute(f"EXECUTE {_APPEND_PREPARED} ({', '.join(['%s'] * len(params))})", params)


def _target_ref(target: models.Model | None) -> tuple[str, str]:
    if target is None:
        return "", ""
    if not isinstance(target, models.Model):
        raise AuditPayloadError(f"target must be a model instance, not {type(target).__name__}")
    if target.pk is None:
        raise AuditPayloadError(f"target {target!r} is not saved yet; record the event after saving it")
    return target._meta.label_lower, str(target.pk)


def _append(
    *,
    actor_id: int | None,
    actor_label: str,
    action: str,
    target: models.Model | None,
    payload: Mapping | None,
) -> AuditEvent:
    if not isinstance(action, str) or len(action) > 100 or not _ACTION.match(action):
        raise AuditPayloadError(f"action {action!r} must look like 'ticket.transitioned' (lower case, dotted)")
    label = (actor_label or SYSTEM)[:320]
    target_type, target_id = _target_ref(target)
    schema = tenant_id()
    data = canonical_payload(payload, metadata_only=tenant_is_metadata_only())
    rid = request_id.get()[:128]
    prefix = event_hash_prefix(tenant_id=schema)
    suffix = event_hash_suffix(
        actor_id=actor_id,
        actor_label=label,
        action=action,
        target_type=target_type,
        target_id=target_id,
        request_id=rid,
        payload=data,
    )
    params = [prefix, suffix, actor_id, label, action, target_type, target_id, data, rid]
    # savepoint=False: inside a caller's transaction any failure here dooms that whole
    # transaction (no business write commits without its event); alone, it is one.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # The head lock is held from this statement until the caller's transaction
        # ends: nothing else happens in between, so every writer of the tenant waits
        # as little as possible.
        _execute_append(cursor, params)
        row = cursor.fetchone()
        if row is None:  # no head row (a schema created without the migration's row)
            _lock_head(cursor)
            _execute_append(cursor, params)
            row = cursor.fetchone()
        seq, created_at, prev_hash, digest = int(row[0]), row[1], str(row[2]), str(row[3])
        event = AuditEvent(
            seq=seq,
            created_at=created_at,
            actor_id=actor_id,
            actor_label=label,
            action=action,
            target_type=target_type,
            target_id=target_id,
            payload=data,
            request_id=rid,
            prev_hash=prev_hash,
            hash=digest,
        )
        event._state.adding, event._state.db = False, connection.alias
        every = _checkpoint_every()
        if every > 0 and seq % every == 0:
            _checkpoint_write(schema=schema, seq=seq, digest=digest, now=created_at)
    return event


def audit_record(
    *,
    actor,
    action: str,
    target=None,
    payload: dict | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append an event done by `actor` (a User, or None for the system).

    `target` is a saved model instance (stored as "app_label.model" and its pk).
    `payload` is a dict of ints, strings, bools, None, lists and dicts (Decimals,
    datetimes, UUIDs and enums are turned into strings; floats are refused with
    AuditPayloadError, a ValueError). Secrets are redacted; in metadata-only tenants
    free-text fields are replaced by their digest. Runs in the caller's transaction.
    """
    actor_pk = getattr(actor, "pk", None) if actor is not None else None
    if actor_label is None:
        if actor is None:
            actor_label = SYSTEM
        elif actor_pk is None:
            actor_label = "anonymous"
        else:
            actor_label = getattr(actor, "email", "") or f"user:{actor_pk}"
    return _append(actor_id=actor_pk, actor_label=actor_label, action=action, target=target, payload=payload)


def audit_record_system(
    *,
    action: str,
    payload: dict | None = None,
    actor_label: str = SYSTEM,
    target=None,
) -> AuditEvent:
    """Append an event done by the system or the platform (`actor_label` "platform:...")."""
    return _append(actor_id=None, actor_label=actor_label, action=action, target=target, payload=payload)


def _checkpoint_write(*, schema: str, seq: int, digest: str, now: datetime) -> AuditCheckpoint:
    signer = keys.signer()
    checkpoint = AuditCheckpoint(
        seq=seq,
        hash=digest,
        created_at=now,
        key_id=signer.key_id,
        signature=signer.sign(checkpoint_message(tenant_id=schema, seq=seq, hash=digest)),
        algorithm=signer.algorithm,
    )
    checkpoint.save(force_insert=True)
    return checkpoint


def audit_checkpoint_create(*, now: datetime | None = None) -> AuditCheckpoint | None:
    """Sign the current head now (e.g. before an evidence export).

    Returns the checkpoint covering the head: a new one, the existing one if the head
    is already signed, or None for an empty chain.
    """
    schema = tenant_id()
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        head_seq, head_hash = _lock_head(cursor)
        if head_seq == 0:
            return None
        last = AuditCheckpoint.objects.order_by("-seq").first()
        if last is not None and last.seq >= head_seq:
            return last
        return _checkpoint_write(schema=schema, seq=head_seq, digest=head_hash, now=now or timezone.now())


def audit_checkpoint_if_due(*, now: datetime | None = None) -> AuditCheckpoint | None:
    """Sign the head if events are unsigned and the last checkpoint is older than
    WARDEN_AUDIT_CHECKPOINT_MINUTES (or there is none). Called by a periodic task."""
    now = now or timezone.now()
    schema = tenant_id()
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        head_seq, head_hash = _lock_head(cursor)
        last = AuditCheckpoint.objects.order_by("-seq").first()
        if head_seq == 0 or (last is not None and last.seq >= head_seq):
            return None
        if last is not None and last.created_at > now - timedelta(minutes=_checkpoint_minutes()):
            return None
        checkpoint = _checkpoint_write(schema=schema, seq=head_seq, digest=head_hash, now=now)
    logger.info("audit checkpoint signed at seq %s", checkpoint.seq)
    return checkpoint


def audit_checkpoint_for_snapshot_head() -> tuple[dict | None, bool]:
    """Inside `selectors.audit_snapshot()`: a signed checkpoint of the head that snapshot
    sees, in the export form, and whether it still has to be stored.

    An export (the evidence pack) must end on a signed checkpoint of exactly the head it
    exported, yet signing the live head would race with appends that commit meanwhile.
    So the snapshot's own head is signed, without writing inside the read-only snapshot;
    `audit_checkpoint_store` records it afterwards. Returns (None, False) for an empty chain.
    """
    head = AuditHead.objects.filter(pk=1).values("seq", "hash").first()
    if head is None or head["seq"] == 0:
        return None, False
    existing = AuditCheckpoint.objects.filter(seq=head["seq"]).values(
        "seq", "hash", "created_at", "key_id", "signature", "algorithm"
    ).first()
    if existing is not None:  # a different hash there means tampering: the verifier will say so
        return {**existing, "created_at": format_timestamp(existing["created_at"])}, False
    signer = keys.signer()
    now = timezone.now()
    checkpoint = {
        "seq": head["seq"],
        "hash": head["hash"],
        "created_at": format_timestamp(now),
        "key_id": signer.key_id,
        "signature": signer.sign(checkpoint_message(tenant_id=tenant_id(), seq=head["seq"], hash=head["hash"])),
        "algorithm": signer.algorithm,
    }
    return checkpoint, True


def audit_checkpoint_store(checkpoint: dict) -> None:
    """Store a checkpoint made by `audit_checkpoint_for_snapshot_head` (once the snapshot
    is over). One that a concurrent writer stored first for the same seq wins."""
    table = connection.ops.quote_name(AuditCheckpoint._meta.db_table)
    created = datetime.strptime(checkpoint["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (seq, hash, created_at, key_id, signature, algorithm) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (seq) DO NOTHING",
            [checkpoint["seq"], checkpoint["hash"], created, checkpoint["key_id"], checkpoint["signature"],
             checkpoint["algorithm"]],
        )
