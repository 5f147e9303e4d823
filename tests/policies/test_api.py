"""/api/v1/policies/: simulate and versions, tenant admins only."""

from __future__ import annotations

import copy

import pytest

from apps.policies.baseline import BASELINE_RULES
from apps.policies.models import DecisionLog, PolicySet
from apps.policies.services import decide

from .conftest import ticket

SIMULATE = "/api/v1/policies/simulate/"
VERSIONS = "/api/v1/policies/versions/"


def test_simulate_lists_the_flips(tenant, api_as, admin_user, agent_user, requester_user):
    DecisionLog.objects.all().delete()
    decide(agent_user, "ticket.assign", ticket(requester=requester_user))
    assign_id = DecisionLog.objects.get().pk
    draft = copy.deepcopy(BASELINE_RULES)
    next(r for r in draft if r["name"] == "agents work tickets")["action"] = "ticket.view"

    response = api_as(admin_user).post(SIMULATE, {"rules": draft, "days": 3}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["days"] == 3
    assert body["flip_count"] == 1
    assert [(f["decision_id"], f["before"], f["after"]) for f in body["flips"]] == [(assign_id, "allow", "deny")]


def test_simulate_rejects_bad_rules_as_problem_details(tenant, api_as, admin_user):
    rules = [{**BASELINE_RULES[0], "action": "ticket.fly"}, {"name": "x", "subject": "role:boss"}]
    response = api_as(admin_user).post(SIMULATE, {"rules": rules}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert "unknown action 'ticket.fly'" in errors["rules[0].action"]
    assert any("unknown role 'boss'" in m for m in errors["rules[1].subject"])


@pytest.mark.parametrize("body", [{"rules": "nope"}, {"rules": [], "days": 0}, {"days": 3}])
def test_simulate_rejects_malformed_bodies(tenant, api_as, admin_user, body):
    assert api_as(admin_user).post(SIMULATE, body, format="json").status_code == 400


@pytest.mark.parametrize("role", ["agent", "requester"])
def test_only_admins_simulate_or_read_versions(tenant, api_as, users, role):
    client = api_as(users[role])
    assert client.post(SIMULATE, {"rules": BASELINE_RULES}, format="json").status_code == 403
    assert client.get(VERSIONS).status_code == 403


def test_anonymous_is_refused(tenant, api_client):
    assert api_client.post(SIMULATE, {"rules": []}, format="json").status_code in (401, 403)


def test_versions_newest_first_with_the_one_in_force(tenant, api_as, admin_user, use_rules):
    use_rules([*BASELINE_RULES, {"name": "extra", "subject": "system", "action": "ticket.view", "effect": "allow"}])
    current = PolicySet.objects.get().current_version

    response = api_as(admin_user).get(VERSIONS)

    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["number"] == current.number
    assert results[0]["is_current"] is True
    assert all(r["is_current"] is False for r in results[1:])
    assert results[-1]["number"] == 1
    assert results[-1]["created_by"] == "system"

    detail = api_as(admin_user).get(f"{VERSIONS}1/")
    assert detail.status_code == 200
    assert {r["name"] for r in detail.json()["rules"]} == {r["name"] for r in BASELINE_RULES}
    assert api_as(admin_user).get(f"{VERSIONS}999/").status_code == 404
