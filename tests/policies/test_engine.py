"""The pure engine: rules + facts -> verdict. No database."""

from __future__ import annotations

import pytest

from apps.policies import engine
from apps.policies.actions import ACTIONS, ActionRegistry, action_matches, pattern_is_valid, register_action
from apps.policies.baseline import BASELINE_RULES
from apps.policies.engine import Obligation

ME = 7
SOMEONE_ELSE = 8


def user_facts(role: str, *, user_id: int = ME, teams=(), active: bool = True, **extra) -> dict:
    facts = {
        "actor.kind": "user",
        "actor.id": user_id,
        "actor.role": role,
        "actor.active": active,
        "actor.integration": None,
        "actor.teams": list(teams),
        "tenant.region": "eu",
    }
    facts.update(extra)
    return facts


def system_facts(**extra) -> dict:
    return {
        "actor.kind": "system",
        "actor.id": None,
        "actor.role": None,
        "actor.active": True,
        "actor.integration": None,
        "actor.teams": [],
        "tenant.region": "eu",
        **extra,
    }


def integration_facts(name: str, **extra) -> dict:
    return {**system_facts(**extra), "actor.kind": "integration", "actor.integration": name}


def anonymous_facts(**extra) -> dict:
    return {**system_facts(**extra), "actor.kind": "anonymous", "actor.active": False}


def reader(facts: dict):
    """Like the live reader: a resource/context path nobody set reads as None."""

    def read(key: str):
        if key in facts:
            return facts[key]
        if key.startswith(("resource.", "context.")):
            return None
        raise engine.UnknownFact(key)

    return read


def decide(rules, action: str, facts: dict) -> engine.Verdict:
    return engine.evaluate(engine.parse_rules(rules), action, reader(facts))


def rule(**overrides) -> dict:
    data = {"name": "r", "subject": "*", "action": "ticket.view", "effect": "allow", "priority": 0}
    data.update(overrides)
    return data


# --- Baseline -------------------------------------------------------------------------

OWN = {"resource.requester_id": ME}
OTHER = {"resource.requester_id": SOMEONE_ELSE}

BASELINE_CASES = [
    # role, action, resource facts, context facts, allowed
    ("admin", "ticket.create", {}, {}, True),
    ("admin", "ticket.view", OTHER, {}, True),
    ("admin", "ticket.transition", OTHER, {"context.to": "resolved"}, True),
    ("admin", "export.create", {}, {}, True),
    ("admin", "policy.change", {}, {}, True),
    ("admin", "user.manage", {}, {}, True),
    ("admin", "automation.run", {}, {}, True),
    ("admin", "connector.write", {}, {"context.connector": "servicenow"}, True),
    ("agent", "ticket.create", {}, {}, True),
    ("agent", "ticket.view", OTHER, {}, True),
    ("agent", "ticket.assign", OTHER, {}, True),
    ("agent", "ticket.comment", OTHER, {}, True),
    ("agent", "ticket.transition", OTHER, {"context.to": "resolved"}, True),
    ("agent", "connector.write", {}, {"context.connector": "servicenow"}, True),
    ("agent", "export.create", {}, {}, False),
    ("agent", "policy.change", {}, {}, False),
    ("agent", "user.manage", {}, {}, False),
    ("agent", "automation.run", {}, {}, False),
    ("requester", "ticket.create", {}, {}, True),
    ("requester", "ticket.view", OWN, {}, True),
    ("requester", "ticket.view", OTHER, {}, False),
    ("requester", "ticket.comment", OWN, {}, True),
    ("requester", "ticket.comment", OTHER, {}, False),
    ("requester", "ticket.transition", OWN, {"context.to": "cancelled"}, True),
    ("requester", "ticket.transition", OWN, {"context.to": "open"}, True),
    ("requester", "ticket.transition", OWN, {"context.to": "resolved"}, False),
    ("requester", "ticket.transition", OTHER, {"context.to": "cancelled"}, False),
    ("requester", "ticket.assign", OWN, {}, False),
    ("requester", "connector.write", {}, {"context.connector": "servicenow"}, False),
    ("requester", "export.create", {}, {}, False),
    ("requester", "policy.change", {}, {}, False),
    ("requester", "automation.run", {}, {}, False),
]


@pytest.mark.parametrize(("role", "action", "resource", "context", "allowed"), BASELINE_CASES)
def test_baseline_table(role, action, resource, context, allowed):
    verdict = decide(BASELINE_RULES, action, user_facts(role, **resource, **context))
    assert verdict.allowed is allowed, verdict.reasons


def test_baseline_is_valid_and_every_builtin_action_has_an_owner():
    rules = engine.parse_rules(BASELINE_RULES)
    for action in ACTIONS.names():
        assert engine.evaluate(rules, action, reader(system_facts())).allowed, action


def test_baseline_connector_write_carries_approval_and_cap_even_for_admins():
    verdict = decide(BASELINE_RULES, "connector.write", user_facts("admin", **{"context.connector": "servicenow"}))
    assert verdict.allowed
    assert Obligation(kind="require_approval") in verdict.obligations
    assert Obligation(kind="cap", limit=50, window=3600, scope="connector") in verdict.obligations


def test_baseline_denies_inactive_users_and_anonymous():
    assert not decide(BASELINE_RULES, "ticket.view", user_facts("admin", active=False)).allowed
    assert not decide(BASELINE_RULES, "ticket.create", anonymous_facts()).allowed


def test_baseline_denies_integrations_until_an_admin_allows_them():
    verdict = decide(BASELINE_RULES, "connector.write", integration_facts("servicenow"))
    assert verdict.reasons == (engine.NO_RULE_ALLOWS,)


# --- Combining rules ------------------------------------------------------------------


def test_no_matching_rule_denies():
    verdict = decide([rule(action="ticket.create")], "ticket.view", user_facts("agent"))
    assert verdict == engine.Verdict(allowed=False, reasons=("no rule allows",))


def test_empty_rule_set_denies():
    assert not decide([], "ticket.view", system_facts()).allowed


def test_deny_beats_allow_at_equal_priority():
    rules = [rule(name="allow all"), rule(name="deny agents", subject="role:agent", effect="deny")]
    verdict = decide(rules, "ticket.view", user_facts("agent"))
    assert not verdict.allowed
    assert verdict.reasons == ("denied by rule 'deny agents'",)
    assert verdict.rules == ("deny agents",)


def test_higher_priority_allow_beats_lower_priority_deny():
    rules = [rule(name="deny", effect="deny", priority=0), rule(name="allow", priority=5)]
    assert decide(rules, "ticket.view", user_facts("agent")).allowed


def test_higher_priority_deny_beats_lower_priority_allow():
    rules = [rule(name="deny", effect="deny", priority=5), rule(name="allow", priority=0)]
    assert not decide(rules, "ticket.view", user_facts("agent")).allowed


def test_a_non_matching_higher_tier_falls_through():
    rules = [
        rule(name="deny vip", effect="deny", priority=9, conditions=[{"field": "resource.tags", "op": "any", "value": ["vip"]}]),
        rule(name="allow", priority=0),
    ]
    assert decide(rules, "ticket.view", user_facts("agent", **{"resource.tags": ["printer"]})).allowed
    assert not decide(rules, "ticket.view", user_facts("agent", **{"resource.tags": ["vip"]})).allowed


def test_obligations_of_every_matching_allow_in_the_deciding_tier_apply_once():
    cap = {"limit": 5, "window": 60, "scope": "action"}
    rules = [
        rule(name="a", obligations={"require_approval": True, "cap": cap}),
        rule(name="b", obligations={"require_approval": True, "cap": cap}),
        rule(name="c", priority=-1, obligations={"cap": {"limit": 1, "window": 1, "scope": "action"}}),
    ]
    verdict = decide(rules, "ticket.view", user_facts("agent"))
    assert verdict.reasons == ("allowed by rule 'a'", "allowed by rule 'b'")
    assert verdict.obligations == (
        Obligation(kind="require_approval"),
        Obligation(kind="cap", limit=5, window=60, scope="action"),
    )


# --- Actions --------------------------------------------------------------------------

ACTION_PATTERN_CASES = [
    ("*", "ticket.view", True),
    ("ticket.*", "ticket.view", True),
    ("ticket.*", "ticketing.view", False),
    ("ticket.view", "ticket.view", True),
    ("ticket.view", "ticket.viewer", False),
    ("connector.*", "ticket.view", False),
]


@pytest.mark.parametrize(("pattern", "action", "matches"), ACTION_PATTERN_CASES)
def test_action_patterns(pattern, action, matches):
    assert action_matches(pattern, action) is matches


@pytest.mark.parametrize("pattern", ["*", "ticket.*", "ticket.view", "a.b.c", "a.*"])
def test_valid_action_patterns(pattern):
    assert pattern_is_valid(pattern)


@pytest.mark.parametrize("pattern", ["", "ticket", "Ticket.view", "ticket.*.view", "*.view", "ticket..view", "ti cket.x"])
def test_invalid_action_patterns(pattern):
    assert not pattern_is_valid(pattern)


def test_registry_refuses_bad_names_and_conflicting_descriptions():
    registry = ActionRegistry()
    registry.register("sla.configure", "Change SLA policies")
    registry.register("sla.configure", "Change SLA policies")  # same again: fine
    with pytest.raises(ValueError, match="already registered"):
        registry.register("sla.configure", "Something else")
    with pytest.raises(ValueError, match="invalid action name"):
        registry.register("SLA", "x")
    assert registry.names() == ["sla.configure"]


def test_builtin_actions_are_registered():
    expected = {
        "ticket.create",
        "ticket.view",
        "ticket.transition",
        "ticket.assign",
        "ticket.comment",
        "connector.write",
        "export.create",
        "automation.run",
        "policy.change",
        "user.manage",
    }
    assert expected <= set(ACTIONS.names())


def test_registered_actions_become_usable_in_rules():
    registry = ActionRegistry()
    with pytest.raises(engine.RuleInvalid):
        engine.parse_rule(rule(action="kb.suggest"), known_actions=registry)
    registry.register("kb.suggest", "Suggest knowledge-base articles")
    assert engine.parse_rule(rule(action="kb.suggest"), known_actions=registry).action == "kb.suggest"
    assert engine.parse_rule(rule(action="kb.*"), known_actions=registry).action == "kb.*"


def test_register_action_is_idempotent_for_the_same_description():
    spec = register_action("ticket.view", "See a ticket and its public comments")
    assert spec.name == "ticket.view"


# --- Subjects -------------------------------------------------------------------------

SUBJECT_CASES = [
    # subject, facts, matches
    ("*", user_facts("requester"), True),
    ("*", user_facts("admin", active=False), False),
    ("*", system_facts(), True),
    ("*", integration_facts("slack"), True),
    ("*", anonymous_facts(), False),
    ("system", system_facts(), True),
    ("system", user_facts("admin"), False),
    ("role:agent", user_facts("agent"), True),
    ("role:agent", user_facts("admin"), False),
    ("role:agent", user_facts("agent", active=False), False),
    ("role:agent", system_facts(), False),
    (f"user:{ME}", user_facts("requester"), True),
    (f"user:{ME}", user_facts("requester", user_id=SOMEONE_ELSE), False),
    ("team:3", user_facts("agent", teams=[1, 3]), True),
    ("team:3", user_facts("agent", teams=[1]), False),
    ("team:3", system_facts(), False),
    ("integration:slack", integration_facts("slack"), True),
    ("integration:slack", integration_facts("github"), False),
    ("integration:slack", system_facts(), False),
    (["role:agent", "system"], system_facts(), True),
    (["role:agent", "system"], user_facts("requester"), False),
]


@pytest.mark.parametrize(("subject", "facts", "matches"), SUBJECT_CASES)
def test_subjects(subject, facts, matches):
    assert decide([rule(subject=subject)], "ticket.view", facts).allowed is matches


# --- Conditions -----------------------------------------------------------------------

CONDITION_CASES = [
    # condition, facts, holds
    ({"field": "resource.category", "op": "equals", "value": "hardware"}, {"resource.category": "hardware"}, True),
    ({"field": "resource.category", "op": "equals", "value": "hardware"}, {"resource.category": "software"}, False),
    ({"field": "resource.category", "op": "equals", "value": "hardware"}, {}, False),
    ({"field": "resource.category", "op": "equals", "value": None}, {}, True),
    ({"field": "resource.priority", "op": "equals", "value": 1}, {"resource.priority": True}, False),
    ({"field": "resource.priority", "op": "equals", "value": 1}, {"resource.priority": "1"}, False),
    ({"field": "resource.urgent", "op": "equals", "value": True}, {"resource.urgent": 1}, False),
    ({"field": "resource.urgent", "op": "equals", "value": True}, {"resource.urgent": True}, True),
    ({"field": "resource.category", "op": "not_equals", "value": "hardware"}, {"resource.category": "software"}, True),
    ({"field": "resource.category", "op": "not_equals", "value": "hardware"}, {"resource.category": "hardware"}, False),
    ({"field": "resource.priority", "op": "in", "value": ["p1", "p2"]}, {"resource.priority": "p2"}, True),
    ({"field": "resource.priority", "op": "in", "value": ["p1", "p2"]}, {"resource.priority": "p3"}, False),
    ({"field": "resource.priority", "op": "not_in", "value": ["p1", "p2"]}, {"resource.priority": "p3"}, True),
    ({"field": "resource.priority", "op": "not_in", "value": ["p1", "p2"]}, {"resource.priority": "p1"}, False),
    ({"field": "resource.tags", "op": "any", "value": ["vip", "outage"]}, {"resource.tags": ["outage", "x"]}, True),
    ({"field": "resource.tags", "op": "any", "value": ["vip", "outage"]}, {"resource.tags": ["x"]}, False),
    ({"field": "resource.tags", "op": "any", "value": ["vip"]}, {"resource.tags": None}, False),
    ({"field": "resource.tags", "op": "any", "value": ["vip"]}, {"resource.tags": "vip"}, True),
    ({"field": "resource.tags", "op": "all", "value": ["vip", "outage"]}, {"resource.tags": ["outage", "vip"]}, True),
    ({"field": "resource.tags", "op": "all", "value": ["vip", "outage"]}, {"resource.tags": ["vip"]}, False),
    ({"field": "resource.ticket.requester_id", "op": "is_actor"}, {"resource.ticket.requester_id": ME}, True),
    ({"field": "resource.requester_id", "op": "is_actor"}, {"resource.requester_id": SOMEONE_ELSE}, False),
    ({"field": "resource.requester_id", "op": "is_actor"}, {}, False),
    ({"field": "tenant.region", "op": "equals", "value": "eu"}, {}, True),
    ({"field": "tenant.region", "op": "equals", "value": "us"}, {}, False),
    ({"field": "context.to", "op": "in", "value": ["open"]}, {"context.to": "open"}, True),
    ({"field": "actor.role", "op": "equals", "value": "agent"}, {}, True),
    ({"field": "actor.teams", "op": "any", "value": [3]}, {"actor.teams": [3]}, True),
]


@pytest.mark.parametrize(("condition", "facts", "holds"), CONDITION_CASES)
def test_conditions(condition, facts, holds):
    rules = [rule(subject="role:agent", conditions=[condition])]
    assert decide(rules, "ticket.view", user_facts("agent", **facts)).allowed is holds


def test_is_actor_never_holds_for_the_system():
    rules = [rule(conditions=[{"field": "resource.requester_id", "op": "is_actor"}])]
    assert not decide(rules, "ticket.view", system_facts(**{"resource.requester_id": None})).allowed


def test_all_conditions_must_hold():
    rules = [
        rule(
            conditions=[
                {"field": "resource.category", "op": "equals", "value": "hardware"},
                {"field": "resource.priority", "op": "equals", "value": "p1"},
            ]
        )
    ]
    both = {"resource.category": "hardware", "resource.priority": "p1"}
    one = {"resource.category": "hardware", "resource.priority": "p2"}
    assert decide(rules, "ticket.view", user_facts("agent", **both)).allowed
    assert not decide(rules, "ticket.view", user_facts("agent", **one)).allowed


def test_reader_errors_propagate_to_the_caller():
    def broken(key: str):
        if key == "resource.category":
            raise RuntimeError("getter exploded")
        return reader(user_facts("agent"))(key)

    rules = engine.parse_rules([rule(conditions=[{"field": "resource.category", "op": "equals", "value": "x"}])])
    with pytest.raises(RuntimeError):
        engine.evaluate(rules, "ticket.view", broken)


# --- Validation -----------------------------------------------------------------------

INVALID_RULE_CASES = [
    # rule overrides, error key, message fragment
    ({"action": "ticket.fly"}, "action", "unknown action 'ticket.fly'"),
    ({"action": "nothing.*"}, "action", "unknown action 'nothing.*'"),
    ({"action": "Ticket"}, "action", "registered name"),
    ({"action": None}, "action", "registered name"),
    ({"subject": "role:boss"}, "subject", "unknown role 'boss'"),
    ({"subject": "user:abc"}, "subject", "numeric id"),
    ({"subject": "team:0"}, "subject", "numeric id"),
    ({"subject": "integration:Bad Name"}, "subject", "invalid integration name"),
    ({"subject": "everyone"}, "subject", "unknown subject"),
    ({"subject": []}, "subject", "needs a subject"),
    ({"effect": "maybe"}, "effect", "allow or deny"),
    ({"priority": "high"}, "priority", "whole number"),
    ({"priority": 10**6}, "priority", "whole number"),
    ({"priority": True}, "priority", "whole number"),
    ({"name": " "}, "name", "needs a name"),
    ({"name": "x" * 101}, "name", "at most 100"),
    ({"conditions": {"field": "x"}}, "conditions", "list of objects"),
    ({"conditions": [{"field": "resource.x", "op": "gt", "value": 1}]}, "conditions", "unknown operator 'gt'"),
    ({"conditions": [{"field": "resource.x", "op": "equals"}]}, "conditions", "needs a value"),
    ({"conditions": [{"field": "resource.x", "op": "in", "value": []}]}, "conditions", "non-empty list"),
    ({"conditions": [{"field": "resource.x", "op": "in", "value": "a"}]}, "conditions", "non-empty list"),
    ({"conditions": [{"field": "resource.x", "op": "equals", "value": [1]}]}, "conditions", "one string"),
    ({"conditions": [{"field": "resource.x", "op": "any", "value": [{"a": 1}]}]}, "conditions", "strings, numbers"),
    ({"conditions": [{"field": "resource.x", "op": "is_actor", "value": 1}]}, "conditions", "takes no value"),
    ({"conditions": [{"field": "category", "op": "equals", "value": 1}]}, "conditions", "unknown field 'category'"),
    ({"conditions": [{"field": "resource._secret", "op": "equals", "value": 1}]}, "conditions", "not a plain name"),
    ({"conditions": [{"field": "resource.a.b.c.d.e.f.g", "op": "equals", "value": 1}]}, "conditions", "too deep"),
    ({"conditions": [{"field": "actor.password", "op": "equals", "value": 1}]}, "conditions", "unknown field"),
    ({"conditions": [{"field": "resource.requester.password", "op": "equals", "value": 1}]}, "conditions", "secrets"),
    ({"conditions": [{"field": "context.api_key", "op": "equals", "value": 1}]}, "conditions", "secrets"),
    ({"conditions": [{"field": "resource.x", "op": "equals", "value": 1, "negate": True}]}, "conditions", "negate"),
    ({"obligations": {"cap": {"limit": 0, "window": 60}}}, "cap", "limit"),
    ({"obligations": {"cap": {"limit": 5, "window": 0}}}, "cap", "window"),
    ({"obligations": {"cap": {"limit": 5}}}, "cap", "window"),
    ({"obligations": {"cap": {"limit": 5, "window": 60, "scope": "galaxy"}}}, "cap", "scope"),
    ({"obligations": {"cap": {"limit": "5", "window": 60}}}, "cap", "limit"),
    ({"obligations": {"cap": [5, 60]}}, "cap", "an object"),
    ({"obligations": {"approve": True}}, "obligations", "unknown obligation"),
    ({"obligations": {"require_approval": "yes"}}, "obligations", "true or false"),
    ({"effect": "deny", "obligations": {"require_approval": True}}, "obligations", "deny rule"),
    ({"when": "always"}, "rule", "unknown key(s) when"),
]


@pytest.mark.parametrize(("overrides", "key", "fragment"), INVALID_RULE_CASES)
def test_invalid_rules_name_the_field_and_the_problem(overrides, key, fragment):
    with pytest.raises(engine.RuleInvalid) as caught:
        engine.parse_rule(rule(**overrides))
    assert key in caught.value.errors, caught.value.errors
    assert any(fragment in message for message in caught.value.errors[key]), caught.value.errors


def test_rule_set_errors_are_located_and_all_reported():
    with pytest.raises(engine.RuleSetInvalid) as caught:
        engine.parse_rules([rule(name="a"), rule(name="b", action="x.y", effect="no"), rule(name="a"), 5])
    errors = caught.value.errors
    assert set(errors) == {"rules[1].action", "rules[1].effect", "rules[3]", "rules"}
    assert errors["rules"] == ["two rules are named 'a'; names must be unique"]


def test_rule_set_must_be_a_list():
    with pytest.raises(engine.RuleSetInvalid) as caught:
        engine.parse_rules({"rules": []})
    assert "rules" in caught.value.errors


def test_canonical_json_round_trips():
    rules = engine.parse_rules(BASELINE_RULES)
    canonical = engine.rules_as_json(rules)
    assert engine.rules_as_json(engine.parse_rules(canonical)) == canonical
    assert canonical[0]["priority"] == 10
    assert {r["name"] for r in canonical} == {r["name"] for r in BASELINE_RULES}


def test_stored_versions_tolerate_actions_that_are_no_longer_registered():
    stored = [rule(action="gone.away")]
    with pytest.raises(engine.RuleSetInvalid):
        engine.parse_rules(stored)
    parsed = engine.parse_rules(stored, known_actions=engine.ANY_ACTION)
    assert not engine.evaluate(parsed, "ticket.view", reader(system_facts())).allowed


# --- What gets recorded, caps ---------------------------------------------------------


def test_facts_used_lists_what_the_rules_for_an_action_read():
    rules = engine.parse_rules(
        [
            rule(
                name="a",
                action="ticket.*",
                subject="team:4",
                conditions=[{"field": "resource.category", "op": "equals", "value": "x"}],
            ),
            rule(name="b", action="ticket.view", conditions=[{"field": "tenant.region", "op": "equals", "value": "eu"}]),
            rule(name="c", action="connector.write", obligations={"cap": {"limit": 1, "window": 60, "scope": "connector"}}),
        ]
    )
    assert engine.facts_used(rules, "ticket.view") == ["actor.teams", "resource.category", "tenant.region"]
    assert engine.facts_used(rules, "connector.write") == ["context.connector", "resource.connector"]
    assert engine.facts_used(rules, "export.create") == []


CAP_KEY_CASES = [
    ("action", {}, "action:connector.write:60"),
    ("connector", {"context.connector": "servicenow"}, "connector:servicenow:60"),
    ("connector", {"resource.connector": "github"}, "connector:github:60"),
]


@pytest.mark.parametrize(("scope", "facts", "key"), CAP_KEY_CASES)
def test_cap_keys(scope, facts, key):
    obligation = Obligation(kind="cap", limit=5, window=60, scope=scope)
    assert engine.cap_key(obligation, "connector.write", reader(system_facts(**facts))) == key


def test_cap_key_of_an_integration_defaults_to_its_name():
    obligation = Obligation(kind="cap", limit=5, window=60, scope="connector")
    assert engine.cap_key(obligation, "connector.write", reader(integration_facts("slack"))) == "connector:slack:60"


def test_connector_cap_without_a_connector_fails():
    obligation = Obligation(kind="cap", limit=5, window=60, scope="connector")
    with pytest.raises(engine.CapScopeUnknown):
        engine.cap_key(obligation, "connector.write", reader(system_facts()))


def test_engine_roles_mirror_the_account_roles():
    from apps.accounts.models import Role

    assert tuple(Role.values) == engine.ROLES
