"""Helpers for the policies tests (tenant fixtures come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from apps.policies.models import PolicySet


def ticket(*, requester, number: int = 1, **fields) -> dict:
    """A ticket-like resource: the policies read resources through dict keys or attributes."""
    return {"type": "tickets.ticket", "id": number, "requester_id": requester.pk, **fields}


@pytest.fixture
def policy_set(tenant) -> PolicySet:
    """Alpha's policy set as provisioning left it (baseline rules, enforce)."""
    return PolicySet.objects.select_related("current_version").get()


@pytest.fixture
def use_rules(tenant):
    """`use_rules([...])`: put these rules in force for this test (rolled back after)."""
    from apps.policies import engine
    from apps.policies.services import _policy_set_locked, _publish

    def install(rules: list[dict], *, mode: str | None = None, audit_allows: bool | None = None) -> PolicySet:
        policy_set = _policy_set_locked()
        _publish(policy_set=policy_set, rules=engine.parse_rules(rules), actor=None, comment="test rules")
        if mode is not None:
            policy_set.mode = mode
        if audit_allows is not None:
            policy_set.audit_allows = audit_allows
        policy_set.save()
        return policy_set

    return install
