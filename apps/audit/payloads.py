"""Turning a caller's payload dict into the canonical bytes that are stored and hashed.

Three steps, in this order, all pure (no ORM):

1. `to_jsonable`: Decimals, datetimes, dates, times, UUIDs, enums and lazy strings
   become strings; tuples and sets become lists. Floats are refused: their text form is
   not stable across languages, so payloads carry integers or strings.
2. `redact_secrets`: any key that looks like a credential keeps its place but its value
   becomes "[redacted]".
3. `redact_content` (metadata-only tenants): free-text fields become a digest
   `{"sha256": hex, "length": n}` so the log proves *what* changed without holding it.

Then RFC 8785 canonicalisation with the `rfc8785` package.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import re
import uuid
from collections.abc import Mapping

import rfc8785
from django.utils.functional import Promise

from .verify import MAX_SAFE_INTEGER

REDACTED = "[redacted]"
# Matched against the key lower-cased with "-" and " " folded to "_".
_SECRET_KEY = re.compile(r"password|passwd|secret|token|api_?key|authorization|private_key|credential")
CONTENT_KEYS = frozenset({"title", "description", "body", "comment", "content", "text", "short_description"})
_MAX_DEPTH = 32


class AuditPayloadError(ValueError):
    """A payload the audit log cannot store faithfully (a float, an unknown type, ...)."""


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key.lower().replace("-", "_").replace(" ", "_")))


def _is_content_key(key: str) -> bool:
    name = key.lower()
    if name.endswith("_html"):
        name = name[: -len("_html")]
    return name in CONTENT_KEYS


def to_jsonable(value: object, *, _path: str = "payload", _depth: int = 0) -> object:
    """A JSON value (dict/list/str/int/bool/None) for `value`, or AuditPayloadError."""
    if _depth > _MAX_DEPTH:
        raise AuditPayloadError(f"{_path}: nested more than {_MAX_DEPTH} levels")
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, _path=_path, _depth=_depth + 1)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise AuditPayloadError(f"{_path}: integer {value} is too large for JSON; pass it as a string")
        return int(value)
    if isinstance(value, float):
        raise AuditPayloadError(
            f"{_path}: floats are not allowed in audit payloads ({value!r}); use an int, a string or a Decimal"
        )
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise AuditPayloadError(f"{_path}: {value} is not a number")
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise AuditPayloadError(f"{_path}: naive datetime {value!r}; use an aware one")
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Promise):
        return str(value)
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise AuditPayloadError(f"{_path}: key {key!r} must be a string")
            result[str(key)] = to_jsonable(item, _path=f"{_path}.{key}", _depth=_depth + 1)
        return result
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item, _path=f"{_path}[{i}]", _depth=_depth + 1) for i, item in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [to_jsonable(item, _path=f"{_path}[]", _depth=_depth + 1) for item in value]
        return sorted(items, key=lambda item: rfc8785.dumps(item))
    raise AuditPayloadError(f"{_path}: {type(value).__name__} cannot go into an audit payload; pass ids and strings, not objects")


def redact_secrets(value: object) -> object:
    """Replace the value of every credential-like key, at any depth, with "[redacted]"."""
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k) else redact_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(item) for item in value]
    return value


def content_digest(value: object) -> dict:
    """`{"sha256": ..., "length": ...}` of a content value (text as is, else its canonical JSON)."""
    text = value if isinstance(value, str) else rfc8785.dumps(value).decode("utf-8")
    return {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "length": len(text)}


def redact_content(value: object) -> object:
    """Replace free-text fields (title, description, body, ...) with their digest."""
    if isinstance(value, dict):
        return {k: content_digest(v) if _is_content_key(k) and v is not None else redact_content(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_content(item) for item in value]
    return value


def prepare_payload(payload: Mapping | None, *, metadata_only: bool) -> dict:
    """The JSON object that will be stored: converted, secrets dropped, content digested."""
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise AuditPayloadError(f"payload must be a dict, not {type(payload).__name__}")
    value = redact_secrets(to_jsonable(payload))
    if metadata_only:
        value = redact_content(value)
    assert isinstance(value, dict)
    return value


def canonical_payload(payload: Mapping | None, *, metadata_only: bool) -> bytes:
    """RFC 8785 bytes of the prepared payload: exactly what is stored and hashed."""
    try:
        return rfc8785.dumps(prepare_payload(payload, metadata_only=metadata_only))
    except rfc8785.CanonicalizationError as exc:  # e.g. a lone surrogate in a string
        raise AuditPayloadError(f"payload cannot be canonicalised: {exc}") from exc
