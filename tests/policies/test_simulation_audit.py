"""Simulation reads the decision log (who did what to which resource): every way in
(API, admin page, CLI) leaves a `policy.simulated` event; an invalid draft reads
nothing and leaves none."""

from __future__ import annotations

import copy
import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.policies import engine
from apps.policies.baseline import BASELINE_RULES
from apps.policies.models import DecisionLog
from apps.policies.services import decide

from .conftest import ticket


def _draft() -> list[dict]:
    draft = copy.deepcopy(BASELINE_RULES)
    next(r for r in draft if r["name"] == "agents work tickets")["action"] = "ticket.view"
    return draft


def _digest(rules: list[dict]) -> str:
    canonical = engine.rules_as_json(engine.parse_rules(rules))
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


@pytest.fixture
def one_flip(tenant, agent_user, requester_user):
    DecisionLog.objects.all().delete()
    decide(agent_user, "ticket.assign", ticket(requester=requester_user))


def _simulated() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="policy.simulated").order_by("seq"))


def test_through_the_api(api_as, admin_user, one_flip):
    response = api_as(admin_user).post("/api/v1/policies/simulate/", {"rules": _draft(), "days": 3}, format="json")
    assert response.status_code == 200
    [event] = _simulated()
    assert event.actor_id == admin_user.pk
    assert event.payload_data == {
        "via": "api", "days": 3, "rule_count": len(BASELINE_RULES), "rules_sha256": _digest(_draft()),
        "evaluated": 1, "flip_count": 1, "unknown": 0,
    }


def test_through_the_admin_page(web_as, admin_user, one_flip):
    response = web_as(admin_user).post(
        reverse("admin:policies_policyset_simulate"), {"rules": json.dumps(_draft()), "days": "7"}
    )
    assert response.status_code == 200
    [event] = _simulated()
    assert (event.actor_id, event.payload_data["via"], event.payload_data["flip_count"]) == (admin_user.pk, "admin", 1)


def test_through_the_command(tmp_path, one_flip):
    path = tmp_path / "draft.json"
    path.write_text(json.dumps(_draft()))
    call_command("policy_simulate", "--tenant", "alpha", "--rules", str(path), stdout=io.StringIO())
    [event] = _simulated()
    assert event.actor_id is None
    assert event.actor_label.startswith("operator:")
    assert event.payload_data["via"] == "cli"


def test_an_invalid_draft_reads_nothing_and_is_not_recorded(api_as, admin_user, tmp_path, one_flip):
    bad = [{"name": "x", "subject": "*", "action": "ticket.fly", "effect": "allow"}]
    assert api_as(admin_user).post("/api/v1/policies/simulate/", {"rules": bad}, format="json").status_code == 400
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(CommandError):
        call_command("policy_simulate", "--tenant", "alpha", "--rules", str(path))
    assert _simulated() == []


def test_agents_are_refused_and_the_refusal_is_what_gets_recorded(api_as, agent_user, one_flip):
    assert api_as(agent_user).post("/api/v1/policies/simulate/", {"rules": _draft()}, format="json").status_code == 403
    assert _simulated() == []
