"""The safe getter and the fact readers."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from uuid import UUID

import pytest

from apps.policies.engine import UnknownFact
from apps.policies.facts import FactError, LiveFacts, RecordedFacts, resource_ref, safe_get
from apps.policies.subjects import Integration, actor_facts, actor_label


class Colour(enum.Enum):
    RED = "red"


class WithProperty:
    @property
    def broken(self):
        raise KeyError("boom")

    def method(self):
        return 1


SAFE_GET_CASES = [
    ({"a": 1}, "a", 1),
    ({"a": {"b": "x"}}, "a.b", "x"),
    ({"a": None}, "a.b", None),
    ({}, "missing", None),
    (SimpleNamespace(a=SimpleNamespace(b=2)), "a.b", 2),
    (SimpleNamespace(), "missing", None),
    (SimpleNamespace(a={"b": [1, "two", None]}), "a.b", [1, "two", None]),
    ({"a": (1, 2)}, "a", [1, 2]),
    ({"a": {"b", "a"}}, "a", ["a", "b"]),
    ({"a": Decimal("1.50")}, "a", "1.50"),
    ({"a": datetime(2030, 1, 2, 3, 4, tzinfo=UTC)}, "a", "2030-01-02T03:04:00+00:00"),
    ({"a": date(2030, 1, 2)}, "a", "2030-01-02"),
    ({"a": UUID(int=1)}, "a", "00000000-0000-0000-0000-000000000001"),
    ({"a": Colour.RED}, "a", "red"),
    ({"a": float("nan")}, "a", "nan"),
    ({"a": True}, "a", True),
]


@pytest.mark.parametrize(("obj", "path", "expected"), SAFE_GET_CASES)
def test_safe_get_reads_json_values(obj, path, expected):
    assert safe_get(obj, path) == expected


REFUSED_CASES = [
    (SimpleNamespace(_private=1), "_private", "private"),
    (WithProperty(), "method", "a method"),
    ({"password": "x"}, "password", "secret"),
    ({"a": object()}, "a", "cannot use a object"),
    ({"a": [[[[1]]]]}, "a", "nested too deep"),
]


@pytest.mark.parametrize(("obj", "path", "message"), REFUSED_CASES)
def test_safe_get_refuses_what_is_not_plain_data(obj, path, message):
    with pytest.raises(FactError, match=message):
        safe_get(obj, path)


def test_exceptions_of_properties_propagate():
    with pytest.raises(KeyError):
        safe_get(WithProperty(), "broken")


RESOURCE_REF_CASES = [
    (None, ("", "")),
    ({"type": "tickets.ticket", "id": 7}, ("tickets.ticket", "7")),
    ({"title": "no id"}, ("dict", "")),
    (SimpleNamespace(pk=3), ("SimpleNamespace", "3")),
    (WithProperty(), ("WithProperty", "")),
]


@pytest.mark.parametrize(("resource", "expected"), RESOURCE_REF_CASES)
def test_resource_ref(resource, expected):
    assert resource_ref(resource) == expected


def test_models_read_as_slug_name_or_pk(tenant, agent_user):
    from apps.accounts.models import Team

    desk = Team.objects.get(name="Desk")
    assert safe_get({"team": desk}, "team") == "Desk"
    assert safe_get({"user": agent_user}, "user") == agent_user.pk
    assert safe_get(agent_user, "teams") == ["Desk"]
    assert safe_get(tenant, "region") == "eu"
    assert resource_ref(desk) == ("accounts.team", str(desk.pk))


def test_live_facts_remember_what_they_read(tenant, agent_user):
    facts = LiveFacts(actor=agent_user, resource={"category": "hardware", "tags": ["a"]}, context={"to": "open"})
    assert facts.read("resource.category") == "hardware"
    assert facts.read("context.to") == "open"
    assert facts.read("tenant.region") == "eu"
    facts.top_up(["resource.tags", "resource.nothing"])
    snapshot = facts.snapshot()
    assert snapshot["resource.category"] == "hardware"
    assert snapshot["resource.tags"] == ["a"]
    assert snapshot["resource.nothing"] is None
    assert snapshot["actor.role"] == "agent"
    assert "actor.teams" not in snapshot  # read only when a rule needs it


def test_top_up_leaves_out_facts_that_fail():
    facts = LiveFacts(actor=None, resource=WithProperty(), context=None)
    facts.top_up(["resource.broken"])
    assert "resource.broken" not in facts.snapshot()


def test_recorded_facts_refuse_what_was_never_recorded():
    facts = RecordedFacts({"resource.category": None})
    assert facts.read("resource.category") is None
    with pytest.raises(UnknownFact):
        facts.read("resource.priority")


ACTOR_CASES = [
    (None, "system", {"actor.kind": "system", "actor.active": True}),
    (Integration("slack"), "integration:slack", {"actor.kind": "integration", "actor.integration": "slack"}),
]


@pytest.mark.parametrize(("actor", "label", "expected"), ACTOR_CASES)
def test_actor_facts_and_labels(actor, label, expected):
    assert actor_label(actor) == label
    assert expected.items() <= actor_facts(actor).items()


def test_unknown_actor_types_have_a_label_but_no_facts():
    assert actor_label(42) == "unknown:int"
    with pytest.raises(TypeError):
        actor_facts(42)
