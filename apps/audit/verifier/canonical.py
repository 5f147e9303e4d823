r"""RFC 8785 canonical JSON, float-free subset: the form of every stored audit payload.

Payloads use the float-free subset of JSON, so RFC 8785 reduces to: no whitespace,
object members sorted by the UTF-16 code units of their names, integers in
[-(2**53-1), 2**53-1] written in decimal, and strings escaped minimally (only `"`, `\`
and the C0 controls; \b \f \n \r \t short forms, other controls as lower-case
\u00xx; everything else literal UTF-8).

Standard library only: a part of the pack's verify_pack.py (apps/audit/verifier/__init__.py).
"""

from __future__ import annotations

import json
import re

MAX_SAFE_INTEGER = 2**53 - 1


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
