"""Editing policies in the tenant's Django admin."""

from __future__ import annotations

import copy
import html
import json

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.policies.baseline import BASELINE_RULES
from apps.policies.models import DecisionLog, PolicyRule, PolicySet, PolicyVersion
from apps.policies.services import decide

from .conftest import ticket

RULE_FORM_FIELDS = ["name", "subject", "action", "effect", "priority", "require_approval", "cap_limit", "cap_window", "cap_scope"]


def rule_rows() -> list[dict]:
    """The rule forms as the change page shows them now."""
    rows = []
    for rule in PolicyRule.objects.order_by("pk"):
        row = {field: getattr(rule, field) for field in RULE_FORM_FIELDS}
        row["id"] = rule.pk
        row["conditions"] = rule.conditions
        rows.append(row)
    return rows


def form_data(rows: list[dict], *, mode: str = "enforce", audit_allows: bool = False, comment: str = "") -> dict:
    """POST data of the policy set change form with its inline rule formset."""
    initial = sum(1 for row in rows if row.get("id"))
    data = {
        "mode": mode,
        "change_comment": comment,
        "rules-TOTAL_FORMS": str(len(rows)),
        "rules-INITIAL_FORMS": str(initial),
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
    }
    if audit_allows:
        data["audit_allows"] = "on"
    for index, row in enumerate(rows):
        for key, value in row.items():
            if value is None or value is False:
                continue
            if value is True:
                value = "on"
            if key == "conditions":
                value = json.dumps(value)
            data[f"rules-{index}-{key}"] = str(value)
    return data


def change_rule(rows: list[dict], rule_name: str, /, **changes) -> list[dict]:
    rows = copy.deepcopy(rows)
    next(row for row in rows if row["name"] == rule_name).update(changes)
    return rows


@pytest.fixture
def change_url(policy_set) -> str:
    return reverse("admin:policies_policyset_change", args=[policy_set.pk])


@pytest.fixture
def admin_web(web_as, admin_user):
    return web_as(admin_user)


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_the_change_page_shows_the_rules(admin_web, change_url):
    response = admin_web.get(change_url)
    assert response.status_code == 200
    text = page_text(response)
    for rule in BASELINE_RULES:
        assert rule["name"] in text
    assert "Simulate a draft" in text


def test_the_changelist_leads_to_the_one_policy_set(admin_web, change_url):
    response = admin_web.get(reverse("admin:policies_policyset_changelist"))
    assert response.status_code == 302
    assert response["Location"] == change_url


@pytest.mark.parametrize("role", ["agent", "requester"])
def test_only_tenant_admins_get_in(web_as, users, change_url, role):
    response = web_as(users[role]).get(change_url)
    assert response.status_code in (302, 403)


def test_saving_a_changed_rule_publishes_a_new_version(admin_web, change_url, agent_user, requester_user):
    old = PolicySet.objects.get().current_version
    rows = change_rule(rule_rows(), "agents work tickets", action="ticket.view")

    response = admin_web.post(change_url, form_data(rows, comment="agents read only"))

    assert response.status_code == 302, page_text(response)[:3000]
    current = PolicySet.objects.select_related("current_version").get().current_version
    assert current.number == old.number + 1
    assert current.comment == "agents read only"
    assert current.created_by_label.startswith("user:")
    assert next(r for r in current.rules if r["name"] == "agents work tickets")["action"] == "ticket.view"
    assert (
        next(r for r in PolicyVersion.objects.get(pk=old.pk).rules if r["name"] == "agents work tickets")["action"] == "ticket.*"
    )
    assert not decide(agent_user, "ticket.assign", ticket(requester=requester_user)).allowed


def test_adding_and_deleting_rules(admin_web, change_url):
    rows = rule_rows()
    rows[0]["DELETE"] = True
    deleted = rows[0]["name"]
    rows.append(
        {
            "name": "vip tickets stay with admins",
            "subject": "role:agent",
            "action": "ticket.assign",
            "effect": "deny",
            "priority": 20,
            "conditions": [{"field": "resource.tags", "op": "any", "value": ["vip"]}],
        }
    )
    response = admin_web.post(change_url, form_data(rows))
    assert response.status_code == 302, page_text(response)[:3000]
    names = set(PolicyRule.objects.values_list("name", flat=True))
    assert deleted not in names
    assert "vip tickets stay with admins" in names


def test_saving_unchanged_rules_creates_no_version(admin_web, change_url):
    before = PolicyVersion.objects.count()
    response = admin_web.post(change_url, form_data(rule_rows()))
    assert response.status_code == 302
    assert PolicyVersion.objects.count() == before


def test_the_mode_switch_is_saved_and_audited(admin_web, change_url):
    response = admin_web.post(change_url, form_data(rule_rows(), mode="dry_run", audit_allows=True))
    assert response.status_code == 302
    policy_set = PolicySet.objects.get()
    assert (policy_set.mode, policy_set.audit_allows) == ("dry_run", True)
    assert AuditEvent.objects.filter(action="policy.settings_changed").exists()


INVALID_EDIT_CASES = [
    ({"action": "ticket.fly"}, "unknown action 'ticket.fly'"),
    ({"subject": "role:boss"}, "unknown role 'boss'"),
    ({"conditions": [{"field": "resource.priority", "op": "greater", "value": 1}]}, "unknown operator 'greater'"),
    ({"conditions": [{"field": "priority", "op": "equals", "value": 1}]}, "unknown field 'priority'"),
    ({"conditions": {"field": "resource.x"}}, "conditions are a list of objects"),
    ({"cap_limit": 5}, "cap window must be a whole number of seconds"),
    ({"cap_limit": 5, "cap_window": 10**9, "cap_scope": "action"}, "cap window must be a whole number of seconds"),
    ({"effect": "deny", "require_approval": True}, "a deny rule cannot carry obligations"),
    ({"name": "admins may do everything"}, "Please correct the duplicate data for name"),
]


@pytest.mark.parametrize(("changes", "message"), INVALID_EDIT_CASES)
def test_bad_rules_are_form_errors_and_publish_nothing(admin_web, change_url, changes, message):
    before, before_rows = PolicyVersion.objects.count(), rule_rows()
    response = admin_web.post(change_url, form_data(change_rule(before_rows, "agents work tickets", **changes)))
    assert response.status_code == 200
    assert message in page_text(response)
    assert PolicyVersion.objects.count() == before
    assert rule_rows() == before_rows


def test_an_admin_cannot_save_rules_that_lock_them_out(admin_web, change_url):
    rows = rule_rows()
    for row in rows:
        if row["subject"] == "role:admin":
            row["DELETE"] = True
    response = admin_web.post(change_url, form_data(rows))
    assert response.status_code == 200
    assert "would stop you from changing policies" in page_text(response)


# --- History --------------------------------------------------------------------------


def test_version_history_is_read_only(admin_web, admin_user):
    version = PolicyVersion.objects.get(number=1)
    url = reverse("admin:policies_policyversion_change", args=[version.pk])
    assert admin_web.get(reverse("admin:policies_policyversion_changelist")).status_code == 200
    response = admin_web.get(url)
    assert response.status_code == 200
    assert "admins may do everything" in page_text(response)
    assert admin_web.post(url, {"comment": "rewritten"}).status_code == 403
    assert admin_web.get(reverse("admin:policies_policyversion_add")).status_code == 403
    assert PolicyVersion.objects.get(pk=version.pk).comment == version.comment


def test_restoring_an_old_version(admin_web, admin_user, change_url):
    admin_web.post(change_url, form_data(change_rule(rule_rows(), "agents work tickets", action="ticket.view")))
    first = PolicyVersion.objects.get(number=1)
    response = admin_web.post(
        reverse("admin:policies_policyversion_changelist"),
        {"action": "restore_version", "_selected_action": [str(first.pk)]},
    )
    assert response.status_code == 302
    current = PolicySet.objects.get().current_version
    assert current.number == 3
    assert current.rules == first.rules


def test_the_decision_log_is_listed(admin_web, agent_user):
    decide(agent_user, "export.create")
    log = DecisionLog.objects.order_by("-pk").first()
    assert admin_web.get(reverse("admin:policies_decisionlog_changelist")).status_code == 200
    response = admin_web.get(reverse("admin:policies_decisionlog_change", args=[log.pk]))
    assert response.status_code == 200
    assert "actor.role" in page_text(response)


# --- Simulation page ------------------------------------------------------------------

SIMULATE = "admin:policies_policyset_simulate"


def test_the_simulate_page_starts_from_the_rules_in_force(admin_web):
    response = admin_web.get(reverse(SIMULATE))
    assert response.status_code == 200
    assert "agents work tickets" in page_text(response)


def test_the_simulate_page_lists_the_flips(admin_web, agent_user, requester_user):
    DecisionLog.objects.all().delete()
    decide(agent_user, "ticket.assign", ticket(requester=requester_user))
    flipped = DecisionLog.objects.get().pk
    draft = copy.deepcopy(BASELINE_RULES)
    next(r for r in draft if r["name"] == "agents work tickets")["action"] = "ticket.view"

    response = admin_web.post(reverse(SIMULATE), {"rules": json.dumps(draft), "days": "7"})

    assert response.status_code == 200
    result = response.context["result"]
    assert [(f.decision_id, f.before, f.after) for f in result.flips] == [(flipped, "allow", "deny")]
    assert 'id="simulation-flips"' in page_text(response)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("[{", "Enter a valid JSON"),
        (
            json.dumps([{"name": "x", "subject": "*", "action": "ticket.fly", "effect": "allow"}]),
            "rules[0].action: unknown action 'ticket.fly'",
        ),
    ],
)
def test_the_simulate_page_shows_bad_drafts_as_form_errors(admin_web, rules, message):
    response = admin_web.post(reverse(SIMULATE), {"rules": rules, "days": "7"})
    assert response.status_code == 200
    assert message in page_text(response)
    assert response.context["result"] is None


def test_agents_cannot_simulate(web_as, agent_user):
    assert web_as(agent_user).get(reverse(SIMULATE)).status_code in (302, 403)
