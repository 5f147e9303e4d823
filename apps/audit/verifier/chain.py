"""The chain verifier: rows in read order, checkpoints, the head; every failure classified.

Pure (no database): the app feeds it rows from PostgreSQL (`feed_values`), an auditor
an exported segment (`verify_segment`). Standard library only: a part of the pack's
verify_pack.py (apps/audit/verifier/__init__.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

from .canonical import check_payload
from .ed25519 import Ed25519PublicKey, ed25519_verify
from .hashing import _LENGTH, ED25519, GENESIS_HASH, HMAC_SHA256, _text, checkpoint_message, event_hash_prefix

SEGMENT_FORMAT = "warden.audit.segment.v1"

# Failure classes, in the words the operator sees.
GAP = "gap"
PREV_HASH_MISMATCH = "prev_hash_mismatch"
HASH_MISMATCH = "hash_mismatch"
NON_CANONICAL_PAYLOAD = "non_canonical_payload"
CHECKPOINT_SIGNATURE = "checkpoint_signature"
CHECKPOINT_HEAD = "checkpoint_head"
TRUNCATED = "truncated"
FAILURES = (
    GAP,
    PREV_HASH_MISMATCH,
    HASH_MISMATCH,
    NON_CANONICAL_PAYLOAD,
    CHECKPOINT_SIGNATURE,
    CHECKPOINT_HEAD,
    TRUNCATED,
)

KeyLookup = Callable[[str], "bytes | Ed25519PublicKey | object | None"]
# What a key lookup returns for an HMAC key the caller knowingly does not have (an
# offline auditor): such checkpoints are counted as unchecked instead of failing. Never
# honoured for an Ed25519 checkpoint, whose public key must be present.
NOT_GIVEN = object()
VerifyKeys = "Mapping[str, bytes | str | Ed25519PublicKey] | KeyLookup | None"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    failure: str | None
    message: str
    rows_checked: int
    checkpoints_verified: int
    signatures_checked: bool

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """One line for an operator."""
        if self.ok:
            return (
                f"OK head_seq={self.head_seq} head_hash={self.head_hash} "
                f"rows={self.rows_checked} checkpoints_verified={self.checkpoints_verified}"
                + ("" if self.signatures_checked else " (checkpoint signatures NOT checked: no key)")
            )
        return f"FAIL seq={self.first_bad_seq} failure={self.failure}: {self.message}"


class _Failed(Exception):
    def __init__(self, failure: str, seq: int | None, message: str):
        super().__init__(message)
        self.failure, self.seq, self.message = failure, seq, message


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _payload_bytes(row: Mapping) -> bytes:
    if "payload_b64" in row:
        return base64.b64decode(str(row["payload_b64"]), validate=True)
    payload = row.get("payload")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogatepass")
    raise ValueError("row has no payload")


def _key_lookup(keys: VerifyKeys) -> KeyLookup | None:
    if keys is None:
        return None
    if callable(keys):
        return keys

    def lookup(key_id: str) -> bytes | Ed25519PublicKey | None:
        key = keys.get(key_id)
        return key.encode("utf-8") if isinstance(key, str) else key

    return lookup


class ChainVerifier:
    """Feed rows in the order they were read; `finish()` says whether the chain holds.

    Rows and checkpoints are mappings in the export form (docs/audit.md): row keys
    seq, created_at, actor_id, actor_label, action, target_type, target_id,
    request_id, payload (str or bytes) or payload_b64, prev_hash, hash; checkpoint
    keys seq, hash, key_id, signature, algorithm.

    `start_seq` is the first seq expected (1 for a whole chain). A segment that starts
    later is anchored on the signed checkpoint at `start_seq - 1` if there is one,
    else on `anchor_hash`, else on its first row's prev_hash (unverifiable, trusted).
    `head` is the unsigned {seq, hash} the database says is the last event; when given,
    the chain must end exactly there. `keys` maps key id -> HMAC key (bytes or text)
    or `Ed25519PublicKey` (or is a lookup function); without keys, checkpoint signatures
    are not checked but checkpoint hashes still are. `ed25519` replaces the pure-Python
    Ed25519 check with a faster one (the app passes `cryptography`'s).
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        checkpoints: Iterable[Mapping] = (),
        keys: VerifyKeys = None,
        start_seq: int = 1,
        anchor_hash: str | None = None,
        head: Mapping | None = None,
        ed25519: Callable[[bytes, bytes, bytes], bool] | None = None,
    ):
        self.tenant_id = tenant_id
        self._ed25519 = ed25519 or ed25519_verify
        self.start_seq = start_seq
        self._lookup = _key_lookup(keys)
        self._head = head
        self._expected = start_seq
        self._prev: str | None = GENESIS_HASH if start_seq == 1 else anchor_hash
        self._last_seq = start_seq - 1
        self._rows = 0
        self._verified = 0
        self._unchecked = 0
        self._error: _Failed | None = None
        self._hash_base = hashlib.sha256(event_hash_prefix(tenant_id=tenant_id))
        ordered = sorted(checkpoints, key=lambda c: _as_int(c.get("seq")) or 0)
        self._pending = [c for c in ordered if (_as_int(c.get("seq")) or 0) >= start_seq]
        self._pending_next = (_as_int(self._pending[0].get("seq")) or 0) if self._pending else 0
        try:
            for cp in ordered:
                cp_seq = _as_int(cp.get("seq")) or 0
                if cp_seq >= start_seq:
                    break
                self._check_signature(cp)
                if cp_seq == start_seq - 1:
                    if self._prev is not None and self._prev != cp.get("hash"):
                        raise _Failed(
                            CHECKPOINT_HEAD,
                            cp_seq,
                            f"signed checkpoint at seq {cp_seq} does not match the segment's anchor hash",
                        )
                    self._prev = str(cp.get("hash"))
                    self._verified += 1
        except _Failed as failed:
            self._error = failed

    # -- checks

    def _check_signature(self, cp: Mapping) -> None:
        seq = _as_int(cp.get("seq"))
        if seq is None:
            raise _Failed(CHECKPOINT_SIGNATURE, None, "checkpoint without a valid seq")
        if self._lookup is None:
            return
        algorithm = cp.get("algorithm")
        if algorithm not in (HMAC_SHA256, ED25519):
            raise _Failed(CHECKPOINT_SIGNATURE, seq, f"checkpoint at seq {seq} uses unknown algorithm {algorithm!r}")
        key = self._lookup(str(cp.get("key_id")))
        if key is NOT_GIVEN and algorithm == HMAC_SHA256:
            self._unchecked += 1
            return
        if not key or key is NOT_GIVEN:
            raise _Failed(CHECKPOINT_SIGNATURE, seq, f"checkpoint at seq {seq} is signed with unknown key {cp.get('key_id')!r}")
        message = checkpoint_message(tenant_id=self.tenant_id, seq=seq, hash=str(cp.get("hash")))
        # The key's type, not the checkpoint, decides the algorithm: a checkpoint that
        # claims HMAC must not get checked with a public key anyone holds.
        if isinstance(key, Ed25519PublicKey) != (algorithm == ED25519):
            raise _Failed(
                CHECKPOINT_SIGNATURE, seq, f"checkpoint at seq {seq} claims {algorithm!r}, which key {cp.get('key_id')!r} is not"
            )
        if isinstance(key, Ed25519PublicKey):
            try:
                signature = bytes.fromhex(str(cp.get("signature")))
            except ValueError:
                signature = b""
            valid = self._ed25519(key.raw, signature, message)
        else:
            expected = hmac.new(key, message, hashlib.sha256).hexdigest()
            valid = hmac.compare_digest(expected.encode("ascii"), _text(cp.get("signature")))
        if not valid:
            raise _Failed(CHECKPOINT_SIGNATURE, seq, f"checkpoint at seq {seq} has an invalid signature")

    def _check_row(self, row: Mapping) -> None:
        seq = _as_int(row.get("seq"))
        if seq != self._expected:
            found = "no valid seq" if seq is None else f"seq {seq}"
            raise _Failed(GAP, self._expected, f"expected seq {self._expected}, found {found}")
        prev = row.get("prev_hash")
        if self._prev is None:  # segment with nothing to anchor it: trust its first link
            self._prev = str(prev)
        if prev != self._prev:
            raise _Failed(PREV_HASH_MISMATCH, seq, f"seq {seq} does not link to the hash of seq {seq - 1}")
        try:
            payload = _payload_bytes(row)
        except (ValueError, binascii.Error) as exc:
            raise _Failed(NON_CANONICAL_PAYLOAD, seq, f"seq {seq} payload: {exc}") from None
        actor_id = row.get("actor_id")
        self._check_event(
            seq,
            _text(prev),
            _text(row.get("created_at")),
            b"" if actor_id is None else _text(actor_id),
            _text(row.get("actor_label")),
            _text(row.get("action")),
            _text(row.get("target_type")),
            _text(row.get("target_id")),
            _text(row.get("request_id")),
            payload,
            row.get("hash"),
        )

    def _check_event(
        self,
        seq: int,
        prev: bytes,
        created_at: bytes,
        actor_id: bytes,
        actor_label: bytes,
        action: bytes,
        target_type: bytes,
        target_id: bytes,
        request_id: bytes,
        payload: bytes,
        stored_hash: object,
    ) -> None:
        """The checks after seq and link: canonical payload, hash, checkpoints due here.

        Takes the hashed fields already encoded, so the database path
        (`feed_values`) and the export path (`feed`) share one definition.
        """
        try:
            check_payload(payload)
        except ValueError as exc:
            raise _Failed(NON_CANONICAL_PAYLOAD, seq, f"seq {seq} payload: {exc}") from None
        seq_text = str(seq).encode("ascii")
        size = _LENGTH
        digest = self._hash_base.copy()
        # F(x) = uint64_be(len(x)) || x for each field after the prefix, written out
        # (no generator): this runs once per event, a million times per verification.
        digest.update(
            b"".join(
                (
                    size(len(seq_text)), seq_text,
                    size(len(prev)), prev,
                    size(len(created_at)), created_at,
                    size(len(actor_id)), actor_id,
                    size(len(actor_label)), actor_label,
                    size(len(action)), action,
                    size(len(target_type)), target_type,
                    size(len(target_id)), target_id,
                    size(len(request_id)), request_id,
                    size(len(payload)), payload,
                )
            )
        )
        computed = digest.hexdigest()
        if computed != stored_hash:
            raise _Failed(HASH_MISMATCH, seq, f"seq {seq} does not hash to its stored hash")
        self._prev = computed
        self._last_seq = seq
        self._expected = seq + 1
        self._rows += 1
        if self._pending and self._pending_next <= seq:
            self._check_due_checkpoints(seq, computed)

    def _check_due_checkpoints(self, seq: int, computed: str) -> None:
        while self._pending and (_as_int(self._pending[0].get("seq")) or 0) <= seq:
            cp = self._pending.pop(0)
            self._check_signature(cp)
            if cp.get("hash") != computed:
                raise _Failed(
                    CHECKPOINT_HEAD,
                    seq,
                    f"signed checkpoint at seq {seq} does not match the chain (history up to seq {seq} was rewritten)",
                )
            self._verified += 1
        self._pending_next = (_as_int(self._pending[0].get("seq")) or 0) if self._pending else 0

    # -- public

    def feed(self, row: Mapping) -> bool:
        """Check one row; False once the chain has failed (stop feeding then)."""
        if self._error is not None:
            return False
        try:
            self._check_row(row)
        except _Failed as failed:
            self._error = failed
            return False
        return True

    def feed_values(
        self,
        seq: int,
        created_at: str,
        actor_id: int | None,
        actor_label: str,
        action: str,
        target_type: str,
        target_id: str,
        request_id: str,
        payload: bytes,
        prev_hash: str,
        hash: str,  # noqa: A002
    ) -> bool:
        """`feed()` for one database row as a tuple of typed columns (the fast path).

        `created_at` is already in the hashed text form. The checks and failure classes
        are exactly those of `feed()`.
        """
        if self._error is not None:
            return False
        try:
            if seq != self._expected:
                raise _Failed(GAP, self._expected, f"expected seq {self._expected}, found seq {seq}")
            if self._prev is None:
                self._prev = prev_hash
            if prev_hash != self._prev:
                raise _Failed(PREV_HASH_MISMATCH, seq, f"seq {seq} does not link to the hash of seq {seq - 1}")
            self._check_event(
                seq,
                prev_hash.encode("utf-8", "surrogatepass"),
                created_at.encode("utf-8", "surrogatepass"),
                b"" if actor_id is None else str(actor_id).encode("ascii"),
                actor_label.encode("utf-8", "surrogatepass"),
                action.encode("utf-8", "surrogatepass"),
                target_type.encode("utf-8", "surrogatepass"),
                target_id.encode("utf-8", "surrogatepass"),
                request_id.encode("utf-8", "surrogatepass"),
                bytes(payload),
                hash,
            )
        except _Failed as failed:
            self._error = failed
            return False
        return True

    def finish(self) -> VerifyResult:
        if self._error is None:
            try:
                self._finish_checks()
            except _Failed as failed:
                self._error = failed
        err = self._error
        return VerifyResult(
            ok=err is None,
            head_seq=self._last_seq,
            head_hash=self._prev or "",
            first_bad_seq=None if err is None else err.seq,
            failure=None if err is None else err.failure,
            message="chain intact" if err is None else err.message,
            rows_checked=self._rows,
            checkpoints_verified=self._verified,
            signatures_checked=self._lookup is not None and self._unchecked == 0,
        )

    def _finish_checks(self) -> None:
        end = self._last_seq
        for cp in self._pending:  # checkpoints beyond the last row
            self._check_signature(cp)
        if self._pending:
            last_cp = max(_as_int(c.get("seq")) or 0 for c in self._pending)
            raise _Failed(TRUNCATED, end + 1, f"chain ends at seq {end} but a signed checkpoint exists at seq {last_cp}")
        if self._head is None:
            return
        head_seq = _as_int(self._head.get("seq"))
        if head_seq is None or head_seq > end:
            raise _Failed(TRUNCATED, end + 1, f"chain ends at seq {end} but the head record says seq {head_seq}")
        if head_seq < end:
            raise _Failed(CHECKPOINT_HEAD, head_seq + 1, f"events after seq {head_seq}, where the head record ends")
        if head_seq >= self.start_seq and self._head.get("hash") != self._prev:
            raise _Failed(CHECKPOINT_HEAD, head_seq, f"the head record's hash does not match seq {head_seq}")


def verify_rows(
    rows: Iterable[Mapping],
    *,
    tenant_id: str,
    checkpoints: Iterable[Mapping] = (),
    keys: VerifyKeys = None,
    start_seq: int = 1,
    anchor_hash: str | None = None,
    head: Mapping | None = None,
) -> VerifyResult:
    """Verify `rows` (in read order). Stops reading at the first failure."""
    verifier = ChainVerifier(
        tenant_id=tenant_id,
        checkpoints=checkpoints,
        keys=keys,
        start_seq=start_seq,
        anchor_hash=anchor_hash,
        head=head,
    )
    for row in rows:
        if not verifier.feed(row):
            break
    return verifier.finish()


def verify_segment(segment: Mapping, *, keys: VerifyKeys = None) -> VerifyResult:
    """Verify an exported segment (the dict `audit_export_segment()` returns)."""
    if segment.get("format") != SEGMENT_FORMAT:
        raise ValueError(f"not a Warden audit segment (format {segment.get('format')!r})")
    since = _as_int(segment.get("since_seq"))
    if since is None or since < 1:
        raise ValueError("segment has no valid since_seq")
    return verify_rows(
        segment.get("rows") or [],
        tenant_id=str(segment.get("tenant_id")),
        checkpoints=segment.get("checkpoints") or [],
        keys=keys,
        start_seq=since,
        anchor_hash=segment.get("anchor_hash"),
        head=segment.get("head"),
    )
