"""The parsed-rules cache and the engine's per-action index.

The decision point parses a version's rules once per process and indexes them by
action (priority tiers sorted once); these tests pin that the shortcut changes nothing
about the answers and never serves rules that are no longer in force.
"""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.policies import engine, selectors
from apps.policies.actions import ACTIONS
from apps.policies.baseline import BASELINE_RULES
from apps.policies.services import decide

from .conftest import ticket
from .test_engine import reader, system_facts, user_facts


@pytest.fixture
def empty_cache():
    selectors.policy_rules_cache_clear()
    yield
    selectors.policy_rules_cache_clear()


def test_a_version_is_parsed_once_then_served_from_the_cache(tenant, agent_user, empty_cache):
    for number in range(5):
        assert decide(agent_user, "ticket.view", ticket(requester=agent_user, number=number)).allowed
    info = selectors.policy_rules_cache_info()
    assert (info["misses"], info["hits"], info["size"]) == (1, 4, 1)


def test_publishing_a_new_version_takes_effect_on_the_next_decision(tenant, agent_user, use_rules, empty_cache):
    assert decide(agent_user, "ticket.view", ticket(requester=agent_user)).allowed
    use_rules([{"name": "nobody views", "subject": "*", "action": "ticket.view", "effect": "deny"}])
    decision = decide(agent_user, "ticket.view", ticket(requester=agent_user))
    assert not decision.allowed
    assert decision.reasons == ("denied by rule 'nobody views'",)
    use_rules(BASELINE_RULES)
    assert decide(agent_user, "ticket.view", ticket(requester=agent_user)).allowed
    assert selectors.policy_rules_cache_info()["misses"] == 3


def test_a_version_edited_around_the_app_is_parsed_again(tenant, agent_user, policy_set, empty_cache):
    assert decide(agent_user, "ticket.view", ticket(requester=agent_user)).allowed
    with connection.cursor() as cursor:  # same pk, number and created_at: only xmin changes
        cursor.execute(
            "UPDATE policies_policyversion SET rules = %s::jsonb WHERE id = %s",
            ['[{"name": "n", "subject": "*", "action": "*", "effect": "deny"}]', policy_set.current_version_id],
        )
    assert decide(agent_user, "ticket.view", ticket(requester=agent_user)).reasons == ("denied by rule 'n'",)


def test_tenants_never_share_an_entry(tenant, other_tenant, agent_user, use_rules, empty_cache):
    """Alpha and beta both have version 1 with the same primary key: the schema keeps them apart."""
    use_rules([{"name": "alpha only", "subject": "*", "action": "ticket.view", "effect": "deny"}])
    assert not decide(agent_user, "ticket.view", ticket(requester=agent_user)).allowed
    with schema_context(other_tenant.schema_name):
        from apps.accounts.models import User

        beta_agent = User.objects.get(email="agent@beta.test")
        assert decide(beta_agent, "ticket.view", ticket(requester=beta_agent)).allowed
    assert selectors.policy_rules_cache_info()["size"] == 2


def test_the_cache_is_bounded(tenant, agent_user, use_rules, empty_cache, monkeypatch):
    monkeypatch.setattr(selectors, "RULES_CACHE_SIZE", 3)
    for i in range(6):
        use_rules([{"name": f"rule {i}", "subject": "*", "action": "ticket.view", "effect": "allow"}])
        assert decide(agent_user, "ticket.view", ticket(requester=agent_user)).reasons == (f"allowed by rule 'rule {i}'",)
    assert selectors.policy_rules_cache_info()["size"] == 3


# --- the engine's index gives the same answers as the plain definition ----------------


def _reference(rules, action, read) -> engine.Verdict:
    """The combination rules of docs/policies.md, written out naively."""
    candidates = [r for r in rules if r.applies_to(action)]
    for priority in sorted({r.priority for r in candidates}, reverse=True):
        matched = [r for r in candidates if r.priority == priority and engine.rule_matches(r, read)]
        denying = [r for r in matched if r.effect == engine.DENY]
        if denying:
            return engine.Verdict(False, tuple(f"denied by rule {r.name!r}" for r in denying), (), tuple(r.name for r in denying))
        if matched:
            obligations = tuple(dict.fromkeys(o for r in matched for o in r.obligations()))
            reasons = tuple(f"allowed by rule {r.name!r}" for r in matched)
            return engine.Verdict(True, reasons, obligations, tuple(r.name for r in matched))
    return engine.Verdict(False, (engine.NO_RULE_ALLOWS,))


def _random_rules(rng: random.Random, n: int) -> list[dict]:
    actions = [*ACTIONS.names(), "ticket.*", "connector.*", "*"]
    subjects = ["*", "system", "role:agent", "role:admin", "role:requester", "team:3", "user:7"]
    rules = []
    for i in range(n):
        effect = rng.choice(["allow", "allow", "deny"])
        data = {
            "name": f"r{i}",
            "subject": rng.sample(subjects, rng.randint(1, 2)),
            "action": rng.choice(actions),
            "effect": effect,
            "priority": rng.choice([-5, 0, 0, 0, 5, 10]),
            "conditions": rng.choice(
                [[], [], [{"field": "resource.category", "op": "in", "value": ["hardware", "network"]}],
                 [{"field": "resource.requester_id", "op": "is_actor"}]]
            ),
        }
        if effect == "allow" and rng.random() < 0.2:
            data["obligations"] = {"require_approval": True}
        rules.append(data)
    return rules


def test_compiled_rules_agree_with_the_plain_definition_on_random_rule_sets():
    rng = random.Random(31337)
    fact_sets = [
        user_facts("agent", teams=[3], **{"resource.category": "hardware"}),
        user_facts("requester", **{"resource.requester_id": 7}),
        user_facts("admin", user_id=9, **{"resource.category": "software"}),
        system_facts(),
    ]
    checked = 0
    for _ in range(60):
        rules = engine.parse_rules(_random_rules(rng, rng.randint(1, 40)))
        compiled = engine.CompiledRules(rules)
        for action in ACTIONS.names():
            for facts in fact_sets:
                expected = _reference(rules, action, reader(facts))
                assert engine.evaluate(compiled, action, reader(facts)) == expected
                assert engine.facts_used(compiled, action) == engine.facts_used(rules, action)
                checked += 1
    assert checked > 1000


def test_the_index_stays_bounded_for_arbitrary_action_names(monkeypatch):
    monkeypatch.setattr(engine.CompiledRules, "MAX_INDEXED_ACTIONS", 4)
    compiled = engine.CompiledRules(engine.parse_rules(BASELINE_RULES))
    for i in range(10):
        assert engine.evaluate(compiled, f"made.up{i}", reader(system_facts())).allowed  # "system" rule covers *
    assert len(compiled._tiers) == 4
