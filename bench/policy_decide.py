"""`decide()` latency with a large rule set (target: p95 under 1 ms with 200 rules).

    .venv/bin/python bench/policy_decide.py [--rules 200] [--calls 5000]

Publishes `--rules` rules through the real `policy_publish` in a throwaway tenant:
narrow rules for many actions, subjects and conditions (so every decision has dozens of
candidates across several priority tiers to match against), ending with the baseline.
Then times the real decision point, `apps.policies.services.decide`, for a rotating mix
of actors, actions and resources:

* inside a caller's transaction (how services call it: one savepoint per decision);
* on its own (autocommit: it opens a transaction of its own);
* the pure engine on the cached, indexed rules (no database), for reference;
* parsing the rule set once (what every decision paid before the cache).

Each decision writes its decision-log row (and an audit event when it denies), exactly as
in production; the figures include those writes.
"""

from __future__ import annotations

import argparse
import random
import time

from governance_common import load_line, percentile, setup_django, throwaway_tenant

setup_django()

from django.db import transaction  # noqa: E402
from environment import describe  # noqa: E402

from apps.accounts.models import Role, User  # noqa: E402
from apps.policies import engine, selectors  # noqa: E402
from apps.policies.baseline import BASELINE_RULES  # noqa: E402
from apps.policies.facts import LiveFacts  # noqa: E402
from apps.policies.services import decide, policy_publish  # noqa: E402

ACTIONS = ["ticket.view", "ticket.transition", "ticket.assign", "ticket.comment", "connector.write", "export.create"]
CATEGORIES = ["hardware", "software", "network", "access", "facilities", "hr", "finance", "security"]


def _rules(count: int, rng: random.Random) -> list[dict]:
    rules = []
    body = max(0, count - len(BASELINE_RULES))
    for i in range(body):
        action = rng.choice([*ACTIONS, "ticket.*", "ticket.*"])
        conditions = [{"field": "resource.category", "op": "in", "value": rng.sample(CATEGORIES, 2)}]
        if rng.random() < 0.5:
            conditions.append({"field": "resource.priority", "op": "not_in", "value": ["p1"]})
        if rng.random() < 0.3:
            conditions.append({"field": "resource.tags", "op": "any", "value": [f"tag{rng.randrange(40)}"]})
        effect = "deny" if rng.random() < 0.2 else "allow"
        rule = {
            "name": f"rule {i:03d}",
            "subject": rng.choice(["role:agent", "role:requester", "role:admin", ["role:agent", "role:admin"]]),
            "action": action,
            "effect": effect,
            "priority": rng.choice([0, 5, 10, 20]),
            "conditions": conditions,
        }
        if effect == "allow" and rng.random() < 0.1 and action != "connector.write":
            rule["obligations"] = {"require_approval": True}
        rules.append(rule)
    return rules + [dict(rule) for rule in BASELINE_RULES]


def _timings(calls: int, one_call, by_outcome: dict | None = None) -> list[float]:
    """Seconds per call, sorted; with `by_outcome`, also split by allowed / denied."""
    timings = []
    for i in range(calls):
        started = time.perf_counter()
        decision = one_call(i)
        elapsed = time.perf_counter() - started
        timings.append(elapsed)
        if by_outcome is not None:
            by_outcome.setdefault("allowed" if decision.allowed else "denied", []).append(elapsed)
    timings.sort()
    for values in (by_outcome or {}).values():
        values.sort()
    return timings


def _line(name: str, timings: list[float]) -> str:
    ms = [t * 1000 for t in timings]
    return (f"  {name:<44} p50 {percentile(ms, 0.50):6.3f} ms   p95 {percentile(ms, 0.95):6.3f} ms   "
            f"p99 {percentile(ms, 0.99):6.3f} ms   ({len(ms)} calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=200, help="rules in force (default 200)")
    parser.add_argument("--calls", type=int, default=5000, help="decisions per measurement (default 5000)")
    args = parser.parse_args()
    rng = random.Random(20250304)  # noqa: S311 - reproducible data, not secrets
    with throwaway_tenant("bench-policy"):
        print(describe())
        admin = User.objects.get(role=Role.ADMIN)
        agent = User.objects.create_user(email="agent@bench.test", password=None, role=Role.AGENT)
        requester = User.objects.create_user(email="requester@bench.test", password=None, role=Role.REQUESTER)
        rules = _rules(args.rules, rng)
        version = policy_publish(actor=admin, rules=rules, comment="benchmark rules")
        actors = [agent, agent, requester, admin]
        resources = [
            {"type": "tickets.ticket", "id": n, "category": rng.choice(CATEGORIES), "priority": rng.choice(["p1", "p2", "p3"]),
             "tags": [f"tag{rng.randrange(40)}"], "requester_id": requester.pk if n % 2 else agent.pk}
            for n in range(97)
        ]
        contexts = [{"to": "resolved"}, {"connector": "servicenow"}, None]

        def call(i: int):
            return decide(actors[i % len(actors)], ACTIONS[i % len(ACTIONS)], resources[i % len(resources)],
                          contexts[i % len(contexts)])

        for i in range(300):  # warm-up: caches, connection, prepared plans
            call(i)
        print(f"decide() with {version.rule_count} rules in force (version {version.number})")
        allowed = sum(call(i).allowed for i in range(len(actors) * len(ACTIONS) * 3))
        print(f"  mix: {allowed} of {len(actors) * len(ACTIONS) * 3} sample decisions allow")

        split: dict[str, list[float]] = {}
        inside: list[float] = []
        for start in range(0, args.calls, 50):  # the caller's transactions, 50 decisions each;
            with transaction.atomic():  # their BEGIN/COMMIT are the caller's cost, not timed
                inside += _timings(min(50, args.calls - start), lambda i, s=start: call(s + i), split)
        for values in split.values():
            values.sort()
        print(_line("decide() inside the caller's transaction", sorted(inside)))
        print(_line("  of which allowed (log row only)", split.get("allowed", [])))
        print(_line("  of which denied (log row + audit event)", split.get("denied", [])))
        print(_line("decide() on its own (autocommit)", _timings(args.calls, call)))

        compiled = selectors.policy_rules_compiled(selectors.policy_in_force())
        facts = [LiveFacts(actor=actors[i % 4], resource=resources[i % 97], context=contexts[i % 3]) for i in range(97 * 4)]
        for item in facts:  # resolve lazy facts (teams) once, as a decision would
            for key in engine.facts_used(compiled, "ticket.view"):
                item.read(key)
        print(_line("engine.evaluate() on cached rules (no DB)",
                    _timings(args.calls, lambda i: engine.evaluate(compiled, ACTIONS[i % 6], facts[i % len(facts)].read))))
        print(_line("engine.parse_rules() of the whole set (uncached)",
                    _timings(max(50, args.calls // 50),
                             lambda i: engine.parse_rules(version.rules, known_actions=engine.ANY_ACTION))))
        print("  (a denial also appends its audit event: one more statement, under the tenant's chain lock)")
        print(f"  rules cache: {selectors.policy_rules_cache_info()}")
    print(f"  {load_line()}")


if __name__ == "__main__":
    main()
