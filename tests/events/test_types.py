"""Event declarations: ids and identifiers only, checked at declaration and on emit; the
registry lists every type with its payload schema, and docs/events.md is generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.events.types import EVENT_TYPES, DomainEvent, EventInvalid, event_type, validate

from .conftest import ProbeHappened

ROOT = Path(__file__).resolve().parents[2]


def test_a_payload_field_that_could_carry_content_is_refused_at_declaration():
    with pytest.raises(TypeError, match="not an id or identifier type"):

        @event_type("probe.bad_dict", summary="A dict is content.")
        class Bad(DomainEvent):
            body: dict

    with pytest.raises(ValueError, match="dotted lower case"):

        @event_type("Probe Bad", summary="Bad name.")
        class AlsoBad(DomainEvent):
            thing_id: int


def test_strings_are_identifiers_not_text():
    @event_type("probe.labelled", summary="With a label.")
    class Labelled(DomainEvent):
        thing_id: int
        label: str

    assert validate(Labelled(thing_id=1, label="open")) == {"thing_id": 1, "label": "open"}
    with pytest.raises(EventInvalid, match="does not fit"):
        validate(Labelled(thing_id=1, label="x" * 65))  # longer than an identifier: text


def test_stored_payloads_come_back_typed_and_old_versions_need_an_upgrade():
    assert ProbeHappened.from_payload({"thing_id": 3}, 1) == ProbeHappened(thing_id=3)
    with pytest.raises(EventInvalid, match="only v1 is understood"):
        ProbeHappened.from_payload({"thing": 3}, 0)

    @event_type("probe.versioned", version=2, summary="Renamed its field in v2.")
    class Versioned(DomainEvent):
        thing_id: int

        @staticmethod
        def upgrade(payload, from_version):
            return {"thing_id": payload.pop("thing")}

    assert Versioned.from_payload({"thing": 4}, 1) == Versioned(thing_id=4)


def test_every_app_event_has_a_schema_with_ids_only():
    specs = [spec for spec in EVENT_TYPES if spec.cls.__module__.startswith("apps.")]
    names = {spec.name for spec in specs}
    assert {
        "ticket.created", "ticket.changed", "ticket.assigned", "ticket.status_changed", "ticket.resolved",
        "ticket.closed", "ticket.reopened", "ticket.commented", "ticket.attachment_added", "ticket.category_merged",
        "sla.warning", "sla.breached", "sla.escalated", "sla.paused", "sla.resumed",
    } <= names
    for spec in specs:
        schema = spec.schema()
        assert schema["additionalProperties"] is False
        for field, definition in schema["properties"].items():
            assert field.endswith(("_id", "_ids")) or "object" not in str(definition), (spec.name, field)
            assert field not in {"title", "body", "description", "email", "name", "text"}, (spec.name, field)


def test_docs_events_md_is_generated_from_the_registry():
    from apps.events.docs import render

    on_disk = (ROOT / "docs" / "events.md").read_text()
    assert on_disk == render(), "docs/events.md is stale: run `manage.py events_doc`"
    assert "### ticket.created" in on_disk
    assert "sla.escalations" in on_disk
