"""policy_simulate: replaying recorded decisions through a draft."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.policies.baseline import BASELINE_RULES
from apps.policies.models import DecisionLog, Outcome
from apps.policies.services import decide
from apps.policies.simulation import policy_simulate

from .conftest import ticket


def draft_with(rule_name: str, **changes) -> list[dict]:
    """The baseline with one rule changed."""
    rules = copy.deepcopy(BASELINE_RULES)
    for rule in rules:
        if rule["name"] == rule_name:
            rule.update(changes)
    return rules


def last_id() -> int:
    return DecisionLog.objects.order_by("-pk").values_list("pk", flat=True).first()


@pytest.fixture
def prepared_log(tenant, users, requester2_user):
    """Real decisions under the baseline, plus two written by hand. Returns ids by name."""
    DecisionLog.objects.all().delete()
    agent, admin, requester = users["agent"], users["admin"], users["requester"]
    ids: dict[str, int] = {}

    def record(name: str, actor, action: str, resource=None, context=None, allowed: bool = True) -> None:
        assert decide(actor, action, resource, context).allowed is allowed, name
        ids[name] = last_id()

    record("agent views", agent, "ticket.view", ticket(requester=requester))
    record("agent assigns", agent, "ticket.assign", ticket(requester=requester, number=2))
    record("agent comments", agent, "ticket.comment", ticket(requester=requester, number=3))
    record("admin assigns", admin, "ticket.assign", ticket(requester=requester, number=4))
    record("requester views own", requester, "ticket.view", ticket(requester=requester, number=5))
    record("requester comments own", requester, "ticket.comment", ticket(requester=requester, number=6))
    record("requester comments other", requester, "ticket.comment", ticket(requester=requester2_user, number=7), allowed=False)
    record("agent exports", agent, "export.create", allowed=False)

    old = DecisionLog.objects.get(pk=ids["agent assigns"])
    old.pk = None
    old.created_at = timezone.now() - timedelta(days=10)
    old.save()
    ids["agent assigned long ago"] = old.pk

    capped = DecisionLog.objects.get(pk=ids["admin assigns"])
    capped.pk = None
    capped.action = "connector.write"
    capped.outcome = Outcome.CAP_EXCEEDED
    capped.allowed = False
    capped.reasons = ["cap exceeded"]
    capped.facts = {**capped.facts, "context.connector": "servicenow", "resource.connector": None}
    capped.save()
    ids["admin write over the cap"] = capped.pk
    return ids


def flipped(result) -> dict[int, tuple[str, str]]:
    return {flip.decision_id: (flip.before, flip.after) for flip in result.flips}


def test_the_baseline_itself_flips_nothing(prepared_log):
    result = policy_simulate(draft_rules=BASELINE_RULES, days=7)
    assert result.flips == ()
    assert result.evaluated == len(prepared_log) - 1  # the old one is outside the window
    assert result.unchanged == result.evaluated
    assert result.unknown == 0


def test_narrowing_one_rule_flips_exactly_the_decisions_it_allowed(prepared_log):
    draft = draft_with("agents work tickets", action="ticket.view")
    result = policy_simulate(draft_rules=draft, days=7)
    assert flipped(result) == {
        prepared_log["agent assigns"]: ("allow", "deny"),
        prepared_log["agent comments"]: ("allow", "deny"),
    }
    assert result.flip_count == 2
    assert len(result.allow_to_deny) == 2
    assert result.deny_to_allow == ()
    flip = next(f for f in result.flips if f.decision_id == prepared_log["agent assigns"])
    assert flip.action == "ticket.assign"
    assert flip.before_reasons == ("allowed by rule 'agents work tickets'",)
    assert flip.after_reasons == ("no rule allows",)


def test_widening_one_rule_flips_exactly_the_decisions_it_denied(prepared_log):
    draft = draft_with("requesters comment on their own tickets", conditions=[])
    result = policy_simulate(draft_rules=draft, days=7)
    assert flipped(result) == {prepared_log["requester comments other"]: ("deny", "allow")}


def test_more_days_reach_older_decisions(prepared_log):
    draft = draft_with("agents work tickets", action="ticket.view")
    result = policy_simulate(draft_rules=draft, days=30)
    assert prepared_log["agent assigned long ago"] in flipped(result)
    assert result.evaluated == len(prepared_log)


def test_a_cap_denial_counts_as_allowed_by_the_rules(prepared_log):
    assert prepared_log["admin write over the cap"] not in flipped(policy_simulate(draft_rules=BASELINE_RULES, days=7))
    draft = draft_with("connector writes need approval and are capped", effect="deny", obligations={})
    result = policy_simulate(draft_rules=draft, days=7)
    assert flipped(result) == {prepared_log["admin write over the cap"]: ("allow", "deny")}


def test_facts_a_decision_never_recorded_make_it_unknown_not_guessed(prepared_log):
    draft = draft_with("agents work tickets", conditions=[{"field": "resource.priority", "op": "in", "value": ["p1"]}])
    result = policy_simulate(draft_rules=draft, days=7)
    agent_ticket_decisions = 3  # views, assigns, comments (exports never reach that rule)
    assert result.unknown == agent_ticket_decisions
    assert result.unknown_facts == ("resource.priority",)
    assert result.flips == ()
    assert result.evaluated == result.unchanged + result.unknown


def test_the_result_serialises_to_json(prepared_log):
    import json

    result = policy_simulate(draft_rules=draft_with("agents work tickets", action="ticket.view"), days=7)
    data = json.loads(json.dumps(result.as_dict()))
    assert data["flip_count"] == 2
    assert data["allow_to_deny"] == 2
    assert {flip["decision_id"] for flip in data["flips"]} == {prepared_log["agent assigns"], prepared_log["agent comments"]}


INVALID_INPUT_CASES = [
    ({"draft_rules": [{"name": "x"}], "days": 7}, "rules[0].subject"),
    ({"draft_rules": [{**BASELINE_RULES[0], "action": "ticket.fly"}], "days": 7}, "rules[0].action"),
    ({"draft_rules": {"rules": []}, "days": 7}, "rules"),
    ({"draft_rules": BASELINE_RULES, "days": 0}, "days"),
    ({"draft_rules": BASELINE_RULES, "days": 91}, "days"),
    ({"draft_rules": BASELINE_RULES, "days": "7"}, "days"),
]


@pytest.mark.parametrize(("kwargs", "error_key"), INVALID_INPUT_CASES)
def test_invalid_input_is_an_application_error_with_located_messages(tenant, kwargs, error_key):
    with pytest.raises(ApplicationError) as caught:
        policy_simulate(**kwargs)
    assert error_key in caught.value.errors
