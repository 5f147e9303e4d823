"""Payload preparation: conversion, float refusal, secret and content redaction (no DB)."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import uuid

import pytest

from apps.audit.payloads import (
    REDACTED,
    AuditPayloadError,
    canonical_payload,
    content_digest,
    prepare_payload,
    redact_secrets,
    to_jsonable,
)


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


def test_to_jsonable_converts_the_usual_suspects():
    moment = dt.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    value = {
        "price": decimal.Decimal("12.50"),
        "at": moment,
        "day": dt.date(2025, 1, 2),
        "id": uuid.UUID(int=1),
        "colour": Colour.RED,
        "level": Level.HIGH,
        "pair": (1, "a"),
        "tags": {"b", "a"},
        7: "int key",
    }
    assert to_jsonable(value) == {
        "price": "12.50",
        "at": "2025-01-02T03:04:05.000006+00:00",
        "day": "2025-01-02",
        "id": "00000000-0000-0000-0000-000000000001",
        "colour": "red",
        "level": 3,
        "pair": [1, "a"],
        "tags": ["a", "b"],
        "7": "int key",
    }


@pytest.mark.parametrize(
    "payload",
    [
        {"ratio": 0.5},
        {"nested": {"deep": [1, 2.0]}},
        {"big": 2**60},
        {"naive": dt.datetime(2025, 1, 1)},  # noqa: DTZ001
        {"obj": object()},
        {"nan": decimal.Decimal("NaN")},
        {(1, 2): "tuple key"},
    ],
)
def test_refused_payloads(payload):
    with pytest.raises(AuditPayloadError):
        canonical_payload(payload, metadata_only=False)


def test_float_error_is_a_value_error_that_names_the_field():
    with pytest.raises(ValueError, match=r"payload\.nested\.deep\[1\]: floats are not allowed"):
        canonical_payload({"nested": {"deep": [1, 2.0]}}, metadata_only=False)


def test_payload_must_be_a_dict():
    with pytest.raises(AuditPayloadError):
        canonical_payload(["not", "a", "dict"], metadata_only=False)  # type: ignore[arg-type]
    assert canonical_payload(None, metadata_only=False) == b"{}"


@pytest.mark.parametrize(
    "key",
    ["password", "new_password", "Password", "client_secret", "SECRET", "token", "access_token", "refresh-token",
     "api_key", "apiKey", "X-Api-Key", "Authorization", "private_key", "credentials"],
)  # fmt: skip
def test_secrets_are_redacted_at_any_depth(key):
    payload = {key: "hunter2", "nested": {key: {"x": 1}}, "list": [{key: 1}], "email": "a@b.test"}
    assert redact_secrets(payload) == {
        key: REDACTED,
        "nested": {key: REDACTED},
        "list": [{key: REDACTED}],
        "email": "a@b.test",
    }
    assert b"hunter2" not in canonical_payload(payload, metadata_only=False)


def test_content_kept_in_full_content_tenants():
    payload = {"title": "Printer on fire", "status": "open"}
    assert prepare_payload(payload, metadata_only=False) == payload


def test_content_digested_in_metadata_only_tenants():
    payload = {
        "title": "Printer on fire",
        "Description": "Third floor — the big one",
        "changes": {"body": "x" * 10, "body_html": "<p>x</p>", "priority": "p1"},
        "comments": [{"comment": "hello", "internal": True}],
        "text": None,
        "status": "open",
        "password": "also gone",
    }
    prepared = prepare_payload(payload, metadata_only=True)
    assert prepared["title"] == {
        "sha256": hashlib.sha256(b"Printer on fire").hexdigest(),
        "length": len("Printer on fire"),
    }
    assert prepared["Description"] == content_digest("Third floor — the big one")
    assert prepared["Description"]["length"] == 25  # characters, not bytes
    assert prepared["changes"]["body"] == content_digest("x" * 10)
    assert prepared["changes"]["body_html"] == content_digest("<p>x</p>")
    assert prepared["changes"]["priority"] == "p1"
    assert prepared["comments"] == [{"comment": content_digest("hello"), "internal": True}]
    assert prepared["text"] is None
    assert prepared["status"] == "open"
    assert prepared["password"] == REDACTED
    data = canonical_payload(payload, metadata_only=True)
    assert b"Printer" not in data
    assert b"floor" not in data


def test_canonical_payload_is_rfc8785():
    assert canonical_payload({"b": 1, "a": "é", "c": [True, None]}, metadata_only=False) == (
        '{"a":"é","b":1,"c":[true,null]}'.encode()
    )
