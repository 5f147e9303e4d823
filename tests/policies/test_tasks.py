"""Housekeeping: decision retention and cap buckets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.policies.models import CapCounter, DecisionLog
from apps.policies.services import decide, policy_housekeeping


def age(log: DecisionLog, days: int) -> None:
    DecisionLog.objects.filter(pk=log.pk).update(created_at=timezone.now() - timedelta(days=days))


@pytest.fixture
def decisions(tenant):
    DecisionLog.objects.all().delete()
    for _ in range(3):
        decide(None, "ticket.view")
    logs = list(DecisionLog.objects.order_by("pk"))
    age(logs[0], 200)
    age(logs[1], 30)
    return logs


def test_housekeeping_keeps_the_configured_days(decisions):
    assert policy_housekeeping(keep_days=90)["decisions"] == 1
    assert policy_housekeeping(keep_days=7)["decisions"] == 1
    assert list(DecisionLog.objects.values_list("pk", flat=True)) == [decisions[2].pk]


def test_housekeeping_drops_cap_buckets_no_window_needs(tenant):
    long_ago = timezone.now() - timedelta(days=40)
    CapCounter.objects.create(key="action:automation.run:60", window_start=long_ago, count=5)
    CapCounter.objects.create(key="action:automation.run:60", window_start=timezone.now(), count=1)
    assert policy_housekeeping(keep_days=90)["cap_counters"] == 1
    assert CapCounter.objects.count() == 1


def test_housekeeping_refuses_to_keep_nothing(tenant):
    with pytest.raises(ApplicationError):
        policy_housekeeping(keep_days=0)


def test_the_task_runs_in_the_tenant_with_the_setting(decisions):
    from apps.policies.tasks import policy_housekeeping_task

    with override_settings(WARDEN_POLICY_DECISION_DAYS=7):
        result = policy_housekeeping_task.apply()
    assert result.get() == {"decisions": 2, "cap_counters": 0}


def test_the_periodic_entry_is_registered():
    from apps.core import periodic

    entry = next(e for e in periodic.SCHEDULE if e.name == "policies-housekeeping")
    assert entry.tenant_task == "policies.housekeeping"
