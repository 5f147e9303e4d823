"""Simulation: what would a draft rule set have decided on the recorded decisions?

Each `DecisionLog` row keeps the facts its rules read. `policy_simulate` replays those
facts through the draft and lists the decisions whose verdict flips. The comparison is
on the rules' verdict: a call denied only because a cap was full counts as "allowed by
the rules" (caps are counters, not rules, and cannot be replayed).

A draft that reads a fact a decision never recorded (a new condition field, a team
subject where none was used) cannot be replayed for that decision: it is counted as
`unknown` with the missing keys, never guessed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from apps.core.errors import ApplicationError

from . import engine, selectors
from .facts import RecordedFacts
from .models import Outcome

MAX_DAYS = 90
MAX_DECISIONS = 200_000
MAX_FLIPS_LISTED = 1_000
ALLOW = "allow"
DENY = "deny"


@dataclass(frozen=True)
class Flip:
    decision_id: int
    created_at: datetime
    actor: str
    action: str
    resource_type: str
    resource_id: str
    before: str  # allow | deny
    after: str  # allow | deny
    before_reasons: tuple[str, ...]
    after_reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "created_at": self.created_at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "before": self.before,
            "after": self.after,
            "before_reasons": list(self.before_reasons),
            "after_reasons": list(self.after_reasons),
        }


@dataclass(frozen=True)
class SimulationResult:
    days: int
    since: datetime
    until: datetime
    evaluated: int
    unchanged: int
    flips: tuple[Flip, ...]
    flip_count: int
    unknown: int
    unknown_facts: tuple[str, ...]
    truncated: bool

    @property
    def allow_to_deny(self) -> tuple[Flip, ...]:
        return tuple(flip for flip in self.flips if flip.before == ALLOW)

    @property
    def deny_to_allow(self) -> tuple[Flip, ...]:
        return tuple(flip for flip in self.flips if flip.before == DENY)

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "evaluated": self.evaluated,
            "unchanged": self.unchanged,
            "flip_count": self.flip_count,
            "allow_to_deny": len(self.allow_to_deny),
            "deny_to_allow": len(self.deny_to_allow),
            "flips": [flip.as_dict() for flip in self.flips],
            "unknown": self.unknown,
            "unknown_facts": list(self.unknown_facts),
            "truncated": self.truncated,
        }


def _validated_days(days: Any) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        message = f"days must be a whole number from 1 to {MAX_DAYS}"
        raise ApplicationError(message, errors={"days": [message]})
    return days


def _validated_rules(draft_rules: Any) -> tuple[engine.Rule, ...]:
    try:
        return engine.parse_rules(draft_rules)
    except engine.RuleSetInvalid as exc:
        raise ApplicationError(f"The draft rules are not valid: {exc}", errors=exc.errors) from exc


def _verb(allowed: bool) -> str:
    return ALLOW if allowed else DENY


def policy_simulate(*, draft_rules: list[dict], days: int, until: datetime | None = None) -> SimulationResult:
    """Replay the `days` days of decisions before `until` (default: now) through
    `draft_rules`; list the flips."""
    days = _validated_days(days)
    rules = _validated_rules(draft_rules)
    until = until or timezone.now()
    since = until - timedelta(days=days)
    rows = selectors.decision_log_between(since=since, until=until).values_list(
        "pk", "created_at", "actor_label", "action", "resource_type", "resource_id", "facts", "outcome", "reasons"
    )
    evaluated = unchanged = unknown = flip_count = 0
    truncated = False
    missing: Counter[str] = Counter()
    flips: list[Flip] = []
    for pk, created_at, actor, action, resource_type, resource_id, facts, outcome, reasons in rows.iterator(chunk_size=2000):
        if evaluated >= MAX_DECISIONS:
            truncated = True
            break
        evaluated += 1
        before = outcome in (Outcome.ALLOWED, Outcome.CAP_EXCEEDED)
        try:
            verdict = engine.evaluate(rules, action, RecordedFacts(facts or {}).read)
        except engine.UnknownFact as exc:
            unknown += 1
            missing[str(exc.args[0]) if exc.args else "?"] += 1
            continue
        except Exception as exc:  # the same fail-closed rule as live decisions
            verdict = engine.Verdict(allowed=False, reasons=(f"evaluation error: {type(exc).__name__}",))
        if verdict.allowed == before:
            unchanged += 1
            continue
        flip_count += 1
        if len(flips) < MAX_FLIPS_LISTED:
            flips.append(
                Flip(
                    decision_id=pk,
                    created_at=created_at,
                    actor=actor,
                    action=action,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    before=_verb(before),
                    after=_verb(verdict.allowed),
                    before_reasons=tuple(reasons or ()),
                    after_reasons=verdict.reasons,
                )
            )
    return SimulationResult(
        days=days,
        since=since,
        until=until,
        evaluated=evaluated,
        unchanged=unchanged,
        flips=tuple(flips),
        flip_count=flip_count,
        unknown=unknown,
        unknown_facts=tuple(key for key, _ in missing.most_common(20)),
        truncated=truncated,
    )
