"""Cap obligations: exact under concurrency, per window, per scope, undone by rollback."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections, transaction

from apps.policies import caps
from apps.policies.baseline import BASELINE_RULES
from apps.policies.models import CapCounter, DecisionLog, Outcome
from apps.policies.services import decide, policy_publish

NOON = datetime(2030, 1, 1, 12, 0, 10, tzinfo=UTC)


def capped(limit: int, window: int = 60, scope: str = "action", action: str = "automation.run") -> list[dict]:
    return [
        *BASELINE_RULES,
        {
            "name": "capped",
            "subject": "*",
            "action": action,
            "effect": "allow",
            "priority": 50,
            "obligations": {"cap": {"limit": limit, "window": window, "scope": scope}},
        },
    ]


@pytest.fixture
def clock(monkeypatch):
    """caps._now pinned; `clock.now = ...` moves it."""

    class Clock:
        now = NOON

    monkeypatch.setattr(caps, "_now", lambda: Clock.now)
    return Clock


WORKERS = 20
LIMIT = 5


def test_cap_of_five_per_minute_lets_exactly_five_of_twenty_concurrent_attempts_through(fresh_tenant, clock):
    policy_publish(actor=None, rules=capped(LIMIT), comment="cap test")  # committed: fresh tenant
    start = DecisionLog.objects.count()
    barrier = threading.Barrier(WORKERS)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            connection.set_tenant(fresh_tenant)  # each thread has its own connection
            barrier.wait(timeout=30)
            with transaction.atomic():  # the caller's transaction, as in a service
                decision = decide(None, "automation.run")
            with lock:
                results.append(decision.allowed)
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors[:3]
    assert sorted(results) == [False] * (WORKERS - LIMIT) + [True] * LIMIT
    logs = DecisionLog.objects.filter(pk__gt=0).order_by("pk")[start:]
    outcomes = sorted(log.outcome for log in logs)
    assert outcomes == [Outcome.ALLOWED] * LIMIT + [Outcome.CAP_EXCEEDED] * (WORKERS - LIMIT)
    assert all(log.reasons == ["cap exceeded"] for log in logs if log.outcome == Outcome.CAP_EXCEEDED)
    assert list(CapCounter.objects.values_list("key", "count")) == [("action:automation.run:60", LIMIT)]


def test_cap_exceeded_denies_until_the_next_window(tenant, use_rules, clock):
    use_rules(capped(2))
    assert [decide(None, "automation.run").allowed for _ in range(3)] == [True, True, False]
    denied = DecisionLog.objects.order_by("-pk").first()
    assert (denied.outcome, denied.reasons) == (Outcome.CAP_EXCEEDED, ["cap exceeded"])
    clock.now = NOON + timedelta(seconds=60)
    assert decide(None, "automation.run").allowed


def test_cap_denial_is_audited(tenant, use_rules, clock):
    from apps.audit.models import AuditEvent

    use_rules(capped(1))
    decide(None, "automation.run")
    decide(None, "automation.run")
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == "policy.denied"
    assert event.payload_data["outcome"] == "cap_exceeded"


def test_a_rolled_back_caller_gives_its_unit_back(tenant, use_rules, clock):
    use_rules(capped(1))

    class WriteFailed(Exception):
        pass

    def service_whose_write_fails() -> None:
        with transaction.atomic():
            assert decide(None, "automation.run").allowed
            raise WriteFailed

    with pytest.raises(WriteFailed):
        service_whose_write_fails()
    assert decide(None, "automation.run").allowed
    assert not decide(None, "automation.run").allowed


def test_connector_caps_count_each_connector_apart(tenant, use_rules, clock, admin_user):
    use_rules(capped(1, scope="connector", action="connector.write"))
    assert decide(admin_user, "connector.write", None, {"connector": "servicenow"}).allowed
    assert decide(admin_user, "connector.write", None, {"connector": "github"}).allowed
    assert not decide(admin_user, "connector.write", None, {"connector": "servicenow"}).allowed


def test_a_connector_cap_with_no_connector_named_fails_closed(tenant, use_rules, clock, admin_user):
    use_rules(capped(5, scope="connector", action="connector.write"))
    decision = decide(admin_user, "connector.write")
    assert not decision.allowed
    assert decision.reasons == ("evaluation error: CapScopeUnknown",)


def test_dry_run_counts_caps_but_never_blocks(tenant, use_rules, clock):
    use_rules(capped(1), mode="dry_run")
    first, second = decide(None, "automation.run"), decide(None, "automation.run")
    assert (first.allowed, first.would_allow) == (True, True)
    assert (second.allowed, second.would_allow) == (True, False)
    assert second.reasons == ("cap exceeded",)


WINDOW_CASES = [
    (datetime(2030, 1, 1, 12, 0, 59, tzinfo=UTC), 60, datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)),
    (datetime(2030, 1, 1, 12, 1, 0, tzinfo=UTC), 60, datetime(2030, 1, 1, 12, 1, 0, tzinfo=UTC)),
    (datetime(2030, 1, 1, 12, 59, 59, tzinfo=UTC), 3600, datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize(("now", "window", "start"), WINDOW_CASES)
def test_windows_are_fixed_and_epoch_aligned(now, window, start):
    assert caps.window_start(now, window) == start


def test_old_buckets_are_pruned(tenant, use_rules, clock):
    use_rules(capped(3))
    decide(None, "automation.run")
    assert caps.cap_counters_prune(before=NOON - timedelta(days=1)) == 0
    assert caps.cap_counters_prune(before=NOON + timedelta(days=1)) == 1
