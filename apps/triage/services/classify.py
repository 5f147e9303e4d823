"""Which classifier proposes for a ticket: the tenant's rules first, in their order; a
language model (when the tenant set one up) only for a ticket no rule matched.

A classifier returns a `Classification` or None ("no proposal"); it never writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from apps.tickets.models import Ticket

from .. import matching, selectors
from ..choices import Classifier
from ..models import Rule


@dataclass(frozen=True)
class Classification:
    classifier: str
    confidence: Decimal
    rationale: str
    changes: dict  # field -> value: category/team ids, impact/urgency levels, work_note text
    rule: Rule | None = None
    model: str = ""
    prompt_version: str = ""
    prompt_hash: str = ""
    detail: dict = field(default_factory=dict)
    # Set when the classifier was asked and failed: no proposal, a person routes the
    # ticket, and this says why (shown on the queue entry). `changes` is then empty.
    failure: str = ""


def rule_changes(rule: Rule) -> dict:
    changes: dict = {}
    if rule.set_category_id:
        changes["category"] = rule.set_category_id
    if rule.set_team_id:
        changes["team"] = rule.set_team_id
    if rule.set_impact:
        changes["impact"] = rule.set_impact
    if rule.set_urgency:
        changes["urgency"] = rule.set_urgency
    if rule.work_note.strip():
        changes["work_note"] = rule.work_note.strip()
    return changes


def by_rules(ticket: Ticket, *, rules: list[Rule] | None = None,
             parents: dict[int, int | None] | None = None) -> Classification | None:
    rules = list(selectors.rule_list(enabled_only=True)) if rules is None else rules
    if not rules:
        return None
    facts = selectors.facts_for(ticket, parents=parents)
    specs = {}
    for rule in rules:
        try:
            specs[rule.pk] = selectors.rule_spec(rule)
        except matching.PatternInvalid:
            continue  # refused when saved; an old row with a bad pattern is skipped, not fatal
    found = matching.first_match(specs.values(), facts)
    if found is None:
        return None
    spec, why = found
    rule = next(r for r in rules if r.pk == spec.rule_id)
    return Classification(classifier=Classifier.RULES, confidence=rule.confidence, rule=rule,
                          rationale=f"Rule “{rule.name}” matched ({'; '.join(why)}).", changes=rule_changes(rule))


# Further classifiers, tried in order after the rules (the language model registers here),
# each with a cheap "is it set up in this tenant?" (None: always).
_FALLBACKS: list[Callable[[Ticket], Classification | None]] = []
_AVAILABLE: dict[Callable, Callable[[], bool]] = {}


def register_classifier(classify: Callable[[Ticket], Classification | None], *,
                        available: Callable[[], bool] | None = None) -> None:
    if classify not in _FALLBACKS:
        _FALLBACKS.append(classify)
    if available is not None:
        _AVAILABLE[classify] = available


def has_fallbacks() -> bool:
    """Is any further classifier set up in the current tenant? (The bulk path sends the
    tickets no rule matched the single way only then.)"""
    return any(_AVAILABLE.get(fallback, lambda: True)() for fallback in _FALLBACKS)


def classify(ticket: Ticket) -> Classification | None:
    found = by_rules(ticket)
    if found is not None:
        return found
    for fallback in _FALLBACKS:
        found = fallback(ticket)
        if found is not None:
            return found
    return None
