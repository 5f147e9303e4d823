"""Verify a Warden audit chain. Python standard library only, no Django, no ORM.

This module is the single definition of the audit chain format: the service that
appends events imports its hashing and checkpoint functions from here, and the same
file is meant to ship unchanged inside an evidence pack as a stand-alone
`verify_pack.py` (run `python verify.py segment.json`).

Format (docs/audit.md has the full description):

* Every event is hashed as SHA-256 over a sequence of length-prefixed fields
  (8-byte big-endian length, then the bytes):

      "warden.audit.v1", tenant id, seq, prev_hash, created_at, actor_id,
      actor_label, action, target_type, target_id, request_id, payload

  Text is UTF-8; seq and actor_id are ASCII decimal (actor_id empty when none);
  prev_hash is the previous event's hash as 64 lower-case hex characters (64 zeros
  for seq 1); created_at is `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC); payload is the
  stored RFC 8785 canonical JSON bytes.
* A checkpoint signs the length-prefixed fields "warden.audit.checkpoint.v1",
  tenant id, seq, hash, with HMAC-SHA256 (`hmac-sha256`, a shared secret) or Ed25519
  (`ed25519`, RFC 8032; verified here with the public key only).

Payloads use the float-free subset of JSON, so RFC 8785 reduces to: no whitespace,
object members sorted by the UTF-16 code units of their names, integers in
[-(2**53-1), 2**53-1] written in decimal, and strings escaped minimally (only `"`, `\\`
and the C0 controls; \\b \\f \\n \\r \\t short forms, other controls as lower-case
\\u00xx; everything else literal UTF-8).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import struct
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

SEGMENT_FORMAT = "warden.audit.segment.v1"
EVENT_DOMAIN_TAG = b"warden.audit.v1"
CHECKPOINT_DOMAIN_TAG = b"warden.audit.checkpoint.v1"
CHECKPOINT_ALGORITHM = "hmac-sha256"  # the default; HMAC_SHA256
HMAC_SHA256 = CHECKPOINT_ALGORITHM
ED25519 = "ed25519"
GENESIS_HASH = "0" * 64
MAX_SAFE_INTEGER = 2**53 - 1

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


# --- RFC 8785 canonical JSON (float-free subset) ----------------------------------------


class NonCanonicalError(ValueError):
    """A value that has no canonical form here, or bytes that are not canonical."""


_STRING_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)}
_STRING_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"})


def _encode_string(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: not I-JSON
        raise NonCanonicalError("strings must be valid Unicode (no lone surrogates)") from exc
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def _utf16_key(name: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly like sequences of UTF-16 code units.
    return name.encode("utf-16-be")


def _emit(value: object, out: list[str], depth: int) -> None:
    if depth > 200:
        raise NonCanonicalError("nested too deeply")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise NonCanonicalError(f"integer {value} is outside +/-(2**53-1); store it as a string")
        out.append(str(int(value)))
    elif isinstance(value, float):
        raise NonCanonicalError("floats are not allowed in audit payloads; use an integer or a string")
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _emit(item, out, depth + 1)
        out.append("]")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise NonCanonicalError(f"object keys must be strings, not {type(key).__name__}")
        out.append("{")
        for index, key in enumerate(sorted(value, key=_utf16_key)):
            if index:
                out.append(",")
            out.append(_encode_string(key))
            out.append(":")
            _emit(value[key], out, depth + 1)
        out.append("}")
    else:
        raise NonCanonicalError(f"{type(value).__name__} has no JSON form")


def canonicalize(value: object) -> bytes:
    """RFC 8785 bytes of a float-free JSON value (dict, list, str, int, bool, None)."""
    out: list[str] = []
    _emit(value, out, 0)
    return "".join(out).encode("utf-8")


def _reject_float(text: str) -> object:
    raise NonCanonicalError(f"number {text} is not an integer")


def _reject_constant(text: str) -> object:
    raise NonCanonicalError(f"{text} is not JSON")


def _unique_members(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise NonCanonicalError(f"duplicate member name {key!r}")
        result[key] = value
    return result


def parse_canonical(data: bytes) -> object:
    """Parse `data`, insisting that it is exactly the canonical form of its value."""
    value = _parse_canonical_fast(data)
    if value is not _UNDECIDED:
        return value
    return _parse_canonical_strict(data)


def _parse_canonical_strict(data: bytes) -> object:
    """The full check: a strict parse, then re-serialisation with `canonicalize`."""
    try:
        text = data.decode("utf-8")
        value = json.loads(
            text,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_members,
        )
    except NonCanonicalError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NonCanonicalError(f"not JSON: {exc}") from exc
    if canonicalize(value) != data:
        raise NonCanonicalError("JSON is not in RFC 8785 canonical form")
    return value


_UNDECIDED = object()
# A run of 16 digits (an integer that may exceed 2**53-1) or a 4-byte UTF-8 lead byte.
_NEEDS_FULL_CHECK = re.compile(rb"[0-9]{16}|[\xf0-\xff]")
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False).encode
_LOADS = json.JSONDecoder(parse_float=_reject_float, parse_constant=_reject_constant).decode


def _parse_canonical_fast(data: bytes) -> object:
    """The value of `data` if a cheap check proves it canonical, else `_UNDECIDED`.

    The standard library's C encoder, with sorted keys, no whitespace and literal
    non-ASCII, writes exactly RFC 8785 for the values this check lets through:
    strings are escaped the same way (only `"`, `\\` and C0 controls, short forms,
    lower-case `\\u00xx`), integers the same way, and for keys made of BMP characters
    sorting by code point equals sorting by UTF-16 code units. So when re-encoding the
    parsed value gives back the very same bytes, the bytes are canonical. What the
    encoder would write differently is sent to the full check instead: any 4-byte UTF-8
    sequence (a non-BMP character, which could reorder keys), any run of 16 digits (an
    integer that might exceed 2**53-1), and, through the mismatch, duplicate members,
    whitespace, needless escapes and `-0`. Floats and NaN/Infinity are refused here.
    Never raises for bytes it cannot judge: it leaves them undecided.
    """
    if not data or data[0] != 0x7B or _NEEDS_FULL_CHECK.search(data):  # 0x7B: "{"
        return _UNDECIDED
    try:
        value = _LOADS(data.decode("utf-8"))
        if _DUMPS(value).encode("utf-8") == data:
            return value
    except (NonCanonicalError, UnicodeError, ValueError, RecursionError):
        pass
    return _UNDECIDED


def check_payload(data: bytes) -> dict:
    """A stored payload: canonical JSON of an object."""
    value = parse_canonical(data)
    if not isinstance(value, dict):
        raise NonCanonicalError("payload must be a JSON object")
    return value


# --- hashing and checkpoint messages ----------------------------------------------------


_LENGTH = struct.Struct(">Q").pack


def _field(data: bytes) -> bytes:
    return _LENGTH(len(data)) + data


def _text(value: object) -> bytes:
    # surrogatepass: malformed input must hash to *something* (and then mismatch),
    # never crash the verifier.
    return str(value).encode("utf-8", "surrogatepass")


def format_timestamp(moment: datetime) -> str:
    """The hashed form of created_at: UTC, microseconds, `Z`."""
    if moment.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: UP017 (runs on 3.9+)


def event_hash_prefix(*, tenant_id: str) -> bytes:
    """The fields before `seq`: F(domain tag) || F(tenant id)."""
    return _field(EVENT_DOMAIN_TAG) + _field(_text(tenant_id))


def event_hash_suffix(
    *,
    actor_id: int | None,
    actor_label: str,
    action: str,
    target_type: str,
    target_id: str,
    request_id: str,
    payload: bytes,
) -> bytes:
    """The fields after `created_at`, through the payload."""
    return b"".join(
        _field(part)
        for part in (
            b"" if actor_id is None else _text(actor_id),
            _text(actor_label),
            _text(action),
            _text(target_type),
            _text(target_id),
            _text(request_id),
            bytes(payload),
        )
    )


def event_hash(
    *,
    tenant_id: str,
    seq: int,
    prev_hash: str,
    created_at: str,
    actor_id: int | None,
    actor_label: str,
    action: str,
    target_type: str,
    target_id: str,
    request_id: str,
    payload: bytes,
) -> str:
    """Hex SHA-256 of one event (see the module docstring for the exact layout).

    The layout is prefix || F(seq) || F(prev_hash) || F(created_at) || suffix: the
    appending service computes the same digest inside PostgreSQL from the prefix and
    suffix built here, because seq, prev_hash and created_at are only known under the
    chain head's lock (docs/decisions/0010-audit-append-in-one-statement.md).
    """
    digest = hashlib.sha256(event_hash_prefix(tenant_id=tenant_id))
    for part in (_text(seq), _text(prev_hash), _text(created_at)):
        digest.update(_field(part))
    digest.update(
        event_hash_suffix(
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            target_type=target_type,
            target_id=target_id,
            request_id=request_id,
            payload=payload,
        )
    )
    return digest.hexdigest()


def checkpoint_message(*, tenant_id: str, seq: int, hash: str) -> bytes:  # noqa: A002
    return b"".join(_field(p) for p in (CHECKPOINT_DOMAIN_TAG, _text(tenant_id), _text(seq), _text(hash)))


def checkpoint_signature(*, key: bytes, tenant_id: str, seq: int, hash: str) -> str:  # noqa: A002
    message = checkpoint_message(tenant_id=tenant_id, seq=seq, hash=hash)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# --- Ed25519 signature verification (RFC 8032), standard library only ------------------
#
# Checkpoints and manifests signed with Ed25519 verify with the public key alone, so an
# auditor can check them without being able to forge them. The app signs with the
# `cryptography` package; this verifier is written from the RFC's definitions so that a
# pack needs nothing but Python. It is slow (about a millisecond per signature) and
# only ever handles public data, so constant time does not matter here.

_ED_P = 2**255 - 19  # the field prime
_ED_L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
_ED_D = -121665 * pow(121666, _ED_P - 2, _ED_P) % _ED_P  # curve constant d = -121665/121666
_ED_SQRT_M1 = pow(2, (_ED_P - 1) // 4, _ED_P)  # a square root of -1


def _ed_add(one: tuple, two: tuple) -> tuple:
    """Sum of two points in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z."""
    p = _ED_P
    x1, y1, z1, t1 = one
    x2, y2, z2, t2 = two
    a = (y1 - x1) * (y2 - x2) % p
    b = (y1 + x1) * (y2 + x2) % p
    c = 2 * _ED_D * t1 * t2 % p
    d = 2 * z1 * z2 % p
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _ed_double(point: tuple) -> tuple:
    p = _ED_P
    x1, y1, z1, _ = point
    a = x1 * x1 % p
    b = y1 * y1 % p
    c = 2 * z1 * z1 % p
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _ed_decode(data: bytes) -> tuple | None:
    """The point a 32-byte encoding stands for, or None if it is not a valid encoding."""
    if len(data) != 32:
        return None
    p = _ED_P
    number = int.from_bytes(data, "little")
    sign = number >> 255
    y = number & ((1 << 255) - 1)
    if y >= p:
        return None
    u = (y * y - 1) % p  # x^2 = u / v
    v = (_ED_D * y * y + 1) % p
    x = u * pow(v, p - 2, p) % p
    x = pow(x, (p + 3) // 8, p) if x else 0
    if (v * x * x - u) % p:
        x = x * _ED_SQRT_M1 % p
        if (v * x * x - u) % p:
            return None  # u/v has no square root: not on the curve
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = p - x
    return (x, y, 1, x * y % p)


def _ed_same(one: tuple, two: tuple) -> bool:
    p = _ED_P
    return (one[0] * two[2] - two[0] * one[2]) % p == 0 and (one[1] * two[2] - two[1] * one[2]) % p == 0


_ED_BASE = _ed_decode((4 * pow(5, _ED_P - 2, _ED_P) % _ED_P).to_bytes(32, "little"))  # y = 4/5, x even
_ED_ZERO = (0, 1, 1, 0)


def ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message` by `public_key`.

    RFC 8032, 5.1.7: decode A and R, refuse S >= L, k = SHA-512(R || A || M) mod L, and
    accept when [S]B = R + [k]A. Computed as [S]B + [k](-A) with one shared chain of
    doublings.
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a_point = _ed_decode(public_key)
    r_point = _ed_decode(signature[:32])
    if a_point is None or r_point is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _ED_L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _ED_L
    minus_a = ((_ED_P - a_point[0]) % _ED_P, a_point[1], a_point[2], (_ED_P - a_point[3]) % _ED_P)
    both = _ed_add(_ED_BASE, minus_a)
    total = _ED_ZERO
    for bit in range(max(s.bit_length(), k.bit_length()) - 1, -1, -1):
        total = _ed_double(total)
        pick = (s >> bit & 1, k >> bit & 1)
        if pick == (1, 1):
            total = _ed_add(total, both)
        elif pick == (1, 0):
            total = _ed_add(total, _ED_BASE)
        elif pick == (0, 1):
            total = _ed_add(total, minus_a)
    return _ed_same(total, r_point)


class Ed25519PublicKey:
    """A verification key for checkpoints signed with `algorithm: "ed25519"`.

    Keys given to the verifier as plain bytes or text are HMAC keys; an Ed25519 key must
    be wrapped in this class, so a checkpoint can never get an HMAC checked with a
    public key (which anyone could then forge).
    """

    def __init__(self, raw: bytes):
        if len(raw) != 32 or _ed_decode(bytes(raw)) is None:
            raise ValueError("an Ed25519 public key is 32 bytes encoding a curve point")
        self.raw = bytes(raw)

    @classmethod
    def from_hex(cls, text: str) -> Ed25519PublicKey:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ValueError("an Ed25519 public key is 64 hexadecimal characters") from None
        return cls(raw)

    @property
    def hex(self) -> str:
        return self.raw.hex()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the raw key, hex: short enough to read out and compare."""
        return hashlib.sha256(self.raw).hexdigest()

    def verify(self, signature_hex: str, message: bytes) -> bool:
        try:
            signature = bytes.fromhex(signature_hex)
        except (TypeError, ValueError):
            return False
        return ed25519_verify(self.raw, signature, message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ed25519PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"Ed25519PublicKey({self.hex})"


# --- the verifier -----------------------------------------------------------------------


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


def main(argv: list[str] | None = None) -> int:
    """`python verify.py SEGMENT.json [--key KEY_ID=ENV_VAR ...] [--public-key KEY_ID=HEX ...] [--json]`.

    Exit 0 when intact, 1 when not, 2 on unusable input. HMAC keys are read from the
    named environment variables so they never appear on a command line; Ed25519 public
    keys are public and given directly.
    """
    import argparse
    import os

    parser = argparse.ArgumentParser(description="Verify a Warden audit chain segment.")
    parser.add_argument("segment", help="JSON file written by the Warden evidence export")
    parser.add_argument("--key", action="append", default=[], metavar="KEY_ID=ENV_VAR", help="an HMAC key")
    parser.add_argument("--public-key", action="append", default=[], metavar="KEY_ID=HEX", help="an Ed25519 key")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    keys: dict[str, bytes | Ed25519PublicKey] = {}
    for spec in args.key:
        key_id, _, env_name = spec.partition("=")
        if not env_name or env_name not in os.environ:
            print(f"error: --key {spec}: environment variable not set", file=sys.stderr)
            return 2
        keys[key_id] = os.environ[env_name].encode("utf-8")
    for spec in args.public_key:
        key_id, _, text = spec.partition("=")
        try:
            keys[key_id] = Ed25519PublicKey.from_hex(text)
        except ValueError as exc:
            print(f"error: --public-key {key_id}: {exc}", file=sys.stderr)
            return 2
    try:
        with open(args.segment, encoding="utf-8") as handle:
            segment = json.load(handle)
        result = verify_segment(segment, keys=keys or None)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.line())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
