"""Publishing rules: versions, immutability, the baseline, settings, lock-out guard."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError
from apps.policies import engine
from apps.policies.baseline import BASELINE_COMMENT, BASELINE_RULES
from apps.policies.models import DecisionLog, ImmutableVersion, PolicyRule, PolicySet, PolicyVersion
from apps.policies.services import (
    Integration,
    PolicyDenied,
    decide,
    policy_denial_persist,
    policy_install_baseline,
    policy_publish,
    policy_require,
    policy_settings_update,
    policy_version_restore,
)

EXTRA = {"name": "system views", "subject": "system", "action": "ticket.view", "effect": "allow"}


def latest_event(prefix: str = "policy.") -> AuditEvent:
    return AuditEvent.objects.filter(action__startswith=prefix).order_by("-seq").first()


def test_provisioning_installed_the_baseline_as_version_one(policy_set):
    version = PolicyVersion.objects.get(number=1)
    assert version.comment == BASELINE_COMMENT
    assert version.created_by_label == "system"
    assert version.rules == engine.rules_as_json(engine.parse_rules(BASELINE_RULES))
    assert policy_set.mode == "enforce"
    assert policy_set.audit_allows is False
    assert PolicyRule.objects.count() == len(BASELINE_RULES)


def test_install_baseline_is_idempotent_and_keeps_a_changed_rule_set(tenant, admin_user):
    policy_publish(actor=admin_user, rules=[*BASELINE_RULES, EXTRA])
    versions = PolicyVersion.objects.count()
    policy_install_baseline()
    policy_install_baseline()
    assert PolicyVersion.objects.count() == versions
    assert "system views" in PolicyRule.objects.values_list("name", flat=True)


def test_install_baseline_recreates_a_missing_policy_set(tenant):
    PolicySet.objects.all().delete()
    policy_install_baseline()
    policy_set = PolicySet.objects.select_related("current_version").get()
    assert policy_set.current_version.number == PolicyVersion.objects.count()
    assert decide(None, "ticket.view").allowed


def test_publishing_creates_a_new_version_and_keeps_the_old_one(tenant, admin_user, agent_user):
    before = PolicySet.objects.get().current_version
    narrowed = [dict(rule, action="ticket.view") if rule["name"] == "agents work tickets" else rule for rule in BASELINE_RULES]

    version = policy_publish(actor=admin_user, rules=narrowed, comment="agents read only")

    assert version.number == before.number + 1
    assert (version.comment, version.created_by, version.created_by_label) == (
        "agents read only",
        admin_user,
        f"user:{admin_user.pk}",
    )
    assert PolicySet.objects.get().current_version == version
    old = PolicyVersion.objects.get(pk=before.pk)
    assert next(r for r in old.rules if r["name"] == "agents work tickets")["action"] == "ticket.*"
    assert PolicyRule.objects.get(name="agents work tickets").action == "ticket.view"
    assert not decide(agent_user, "ticket.assign").allowed
    assert decide(agent_user, "ticket.view").rule_version == version.number
    event = latest_event("policy.published")
    assert event.payload_data["version"] == version.number
    assert event.payload_data["previous_version"] == before.number


def test_publishing_the_same_rules_creates_no_version(tenant, admin_user):
    current = PolicySet.objects.get().current_version
    assert policy_publish(actor=admin_user, rules=list(reversed(BASELINE_RULES))) == current
    assert PolicyVersion.objects.count() == current.number


def test_versions_are_immutable(policy_set):
    version = policy_set.current_version
    version.comment = "rewritten"
    with pytest.raises(ImmutableVersion):
        version.save()
    with pytest.raises(ImmutableVersion):
        version.delete()


def test_only_who_may_change_policies_publishes(tenant, agent_user):
    with pytest.raises(PolicyDenied):
        policy_publish(actor=agent_user, rules=BASELINE_RULES)
    with pytest.raises(PolicyDenied):
        policy_settings_update(actor=agent_user, mode="dry_run")


def test_invalid_rules_are_refused_with_located_errors(tenant, admin_user):
    with pytest.raises(ApplicationError) as caught:
        policy_publish(actor=admin_user, rules=[*BASELINE_RULES, {**EXTRA, "action": "ticket.fly"}])
    assert caught.value.errors == {f"rules[{len(BASELINE_RULES)}].action": ["unknown action 'ticket.fly'"]}


def test_an_admin_cannot_lock_themselves_out(tenant, admin_user):
    without_admins = [rule for rule in BASELINE_RULES if rule["subject"] != "role:admin"]
    before = PolicyVersion.objects.count()
    with pytest.raises(ApplicationError, match="would stop you from changing policies"):
        policy_publish(actor=admin_user, rules=without_admins)
    assert PolicyVersion.objects.count() == before


def test_restore_publishes_an_old_version_again(tenant, admin_user):
    first = PolicyVersion.objects.get(number=1)
    policy_publish(actor=admin_user, rules=[*BASELINE_RULES, EXTRA])
    restored = policy_version_restore(actor=admin_user, version=first)
    assert restored.number == 3
    assert restored.rules == first.rules
    assert restored.comment == "Restored from v1"


def test_settings_switch_is_audited(tenant, admin_user, requester_user):
    policy_settings_update(actor=admin_user, mode="dry_run", audit_allows=True)
    policy_set = PolicySet.objects.get()
    assert (policy_set.mode, policy_set.audit_allows) == ("dry_run", True)
    event = latest_event("policy.settings_changed")
    assert event.payload_data == {
        "from": {"mode": "enforce", "audit_allows": False},
        "to": {"mode": "dry_run", "audit_allows": True},
    }
    assert policy_require(requester_user, "export.create").would_allow is False


def test_unknown_mode_is_refused(tenant, admin_user):
    with pytest.raises(ApplicationError) as caught:
        policy_settings_update(actor=admin_user, mode="lenient")
    assert "mode" in caught.value.errors


def test_a_denial_rolled_back_with_its_caller_can_be_written_again(fresh_tenant):
    slack = Integration("slack")
    with pytest.raises(PolicyDenied) as caught, transaction.atomic():
        policy_require(slack, "ticket.comment")
    denial = caught.value
    assert not DecisionLog.objects.filter(pk=denial.record["log_id"]).exists()  # gone with the rollback

    assert policy_denial_persist(denial) is True
    log = DecisionLog.objects.get(pk=denial.record["log_id"])
    assert (log.actor_label, log.action, log.allowed) == ("integration:slack", "ticket.comment", False)
    event = latest_event("policy.denied")
    assert event.payload_data["recorded_after_rollback"] is True
    assert event.payload_data["decision_id"] == log.pk
    assert policy_denial_persist(denial) is False  # once only
