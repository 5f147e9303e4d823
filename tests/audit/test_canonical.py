"""The stdlib RFC 8785 canonicaliser (apps/audit/verifier/canonical.py) against the rfc8785 package."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.audit.verifier import canonical
from apps.audit.verify import MAX_SAFE_INTEGER, NonCanonicalError, canonicalize, check_payload, parse_canonical

safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
# Hypothesis' text() never yields lone surrogates (not I-JSON), everything else is fair.
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | safe_ints | texts,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_matches_rfc8785_package(value):
    expected = rfc8785.dumps(value)
    assert canonicalize(value) == expected
    assert parse_canonical(expected) == value


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(texts, json_values, max_size=6))
def test_other_serialisations_are_not_canonical_unless_identical(value):
    canonical = rfc8785.dumps(value)
    for text in (
        json.dumps(value, indent=1),
        json.dumps(value, ensure_ascii=True),
        json.dumps(value, separators=(", ", ": ")),
    ):
        data = text.encode("utf-8")
        if data == canonical:
            assert check_payload(data) == value
        else:
            with pytest.raises(NonCanonicalError):
                check_payload(data)


def test_keys_sort_by_utf16_code_units_not_code_points():
    # U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FFFF (by code point it is after).
    value = {"\uffff": 1, "\U0001f600": 2, "a": 3, "": 4}
    assert canonicalize(value) == '{"":4,"a":3,"\U0001f600":2,"\uffff":1}'.encode()
    assert canonicalize(value) == rfc8785.dumps(value)


def test_string_escaping_is_minimal():
    value = {"s": '\x00\x08\t\n\x0b\x0c\r\x1f"\\/\x7f\u2028é'}
    assert canonicalize(value) == b'{"s":"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\\"\\\\/\x7f\xe2\x80\xa8\xc3\xa9"}'


@pytest.mark.parametrize(
    "value",
    [1.5, {"a": 0.0}, [float("nan")], 2**53, -(2**53), {1: "int key"}, {"s": "\ud800"}, {"x": object()}],
)
def test_refuses_what_has_no_canonical_form(value):
    with pytest.raises(NonCanonicalError):
        canonicalize(value)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1.0}',  # a float
        b'{"a":1e2}',
        b'{"a":-0}',  # canonical zero is 0
        b'{"a":NaN}',
        b'{"b":1,"a":2}',  # unsorted
        b'{"a":1,"a":1}',  # duplicate member
        b'{"a": 1}',  # whitespace
        b'{"a":"\\u00e9"}',  # needless escape
        b'{"a":"\\ud800"}',  # lone surrogate
        b'{"a":9007199254740992}',  # beyond 2**53-1
        b"\xff\xfe{}",  # not UTF-8
        b"[1,2]",  # not an object
        b"",
    ],
)
def test_check_payload_rejects(data):
    with pytest.raises(NonCanonicalError):
        check_payload(data)


# --- the fast check never accepts what the full check refuses ----------------------------

any_ints = st.integers(min_value=-(2**70), max_value=2**70)
wild_texts = st.text(max_size=12)  # includes lone surrogates and non-BMP characters
wild_values = st.recursive(
    st.none() | st.booleans() | any_ints | wild_texts | st.floats(allow_nan=True),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(wild_texts, children, max_size=4),
    max_leaves=20,
)


def _serialisations(value) -> list[bytes]:
    found = []
    for dump in (
        lambda v: rfc8785.dumps(v),
        lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8", "surrogatepass"),
        lambda v: json.dumps(v, ensure_ascii=True, separators=(",", ":"), sort_keys=True).encode(),
        lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass"),
        lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    ):
        try:
            found.append(dump(value))
        except Exception:  # noqa: BLE001, S112 - some values have no such serialisation
            continue
    return found


def _strict(data: bytes):
    try:
        return ("ok", canonical._parse_canonical_strict(data))
    except NonCanonicalError:
        return ("refused", None)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(wild_texts, wild_values, max_size=5), st.integers(min_value=0, max_value=2**16))
def test_fast_check_agrees_with_the_full_check(value, flip):
    for data in _serialisations(value):
        candidates = [data]
        if data:  # and one bit flipped somewhere
            mutated = bytearray(data)
            mutated[flip % len(mutated)] ^= 1 << (flip % 8)
            candidates.append(bytes(mutated))
        for candidate in candidates:
            fast = canonical._parse_canonical_fast(candidate)
            if fast is canonical._UNDECIDED:
                continue
            assert _strict(candidate) == ("ok", fast), candidate


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":1}',  # duplicate member: re-encoding drops one
        b'{"a":1.5}',  # a float json.dumps would write back identically
        b'{"a":9007199254740993}',  # beyond 2**53-1, written back identically
        b'{"\xef\xbf\xbf":1,"\xf0\x9f\x98\x80":2}',  # code point order, not UTF-16 order
        b'{"a":NaN}',
        b'{"a":"\\ud800"}',
    ],
)
def test_fast_check_leaves_the_hard_cases_to_the_full_check(data):
    assert canonical._parse_canonical_fast(data) is canonical._UNDECIDED
    with pytest.raises(NonCanonicalError):
        parse_canonical(data)


def test_fast_check_decides_ordinary_payloads():
    for value in ({}, {"from": "new", "to": "open", "n": -12}, {"note": 'naïve "café" \\ \n \u2028', "x": [None, True]}):
        data = rfc8785.dumps(value)
        assert canonical._parse_canonical_fast(data) == value
