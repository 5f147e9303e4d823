"""Does a ticket match a triage rule? Pure Python: the facts of a ticket in, a verdict out.

`Facts` is what a rule may look at (loaded by `selectors.facts_for`); `RuleSpec` is a rule's
conditions, compiled once. A rule with no condition never matches (it would route every
ticket). Keywords match whole words, ignoring case and accents are kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Facts:
    title: str
    description: str
    source: str
    category_id: int | None
    category_ancestry: frozenset[int]  # the category and every category above it
    requester_email: str


@dataclass(frozen=True)
class RuleSpec:
    rule_id: int
    keywords: tuple[str, ...] = ()
    pattern: str = ""
    source: str = ""
    in_category_id: int | None = None
    requester_domain: str = ""
    _compiled: re.Pattern | None = field(default=None, compare=False, repr=False)

    @property
    def has_conditions(self) -> bool:
        return bool(self.keywords or self.pattern or self.source or self.in_category_id or self.requester_domain)


class PatternInvalid(ValueError):
    pass


def split_keywords(text: str) -> tuple[str, ...]:
    """`"printer, toner\\nscanner"` -> ("printer", "toner", "scanner"), lower case, no repeats."""
    seen: dict[str, None] = {}
    for part in re.split(r"[,\n]", text or ""):
        word = " ".join(part.split()).lower()
        if word:
            seen.setdefault(word, None)
    return tuple(seen)


def compile_pattern(pattern: str) -> re.Pattern | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise PatternInvalid(str(exc)) from None


def spec(*, rule_id: int, keywords: str = "", pattern: str = "", source: str = "", in_category_id: int | None = None,
         requester_domain: str = "") -> RuleSpec:
    return RuleSpec(rule_id=rule_id, keywords=split_keywords(keywords), pattern=pattern, source=source,
                    in_category_id=in_category_id, requester_domain=(requester_domain or "").strip().lower().lstrip("@"),
                    _compiled=compile_pattern(pattern))


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def reasons(rule: RuleSpec, facts: Facts) -> list[str] | None:
    """What matched (for the rationale), or None when the rule does not match."""
    if not rule.has_conditions:
        return None
    why: list[str] = []
    text = f"{facts.title}\n{facts.description}".lower()
    if rule.keywords:
        hits = [word for word in rule.keywords if _has_word(text, word)]
        if not hits:
            return None
        why.append("keywords: " + ", ".join(hits))
    if rule._compiled is not None:
        found = rule._compiled.search(f"{facts.title}\n{facts.description}")
        if found is None:
            return None
        why.append(f"pattern: {found.group(0)[:60]!r}")
    if rule.source:
        if facts.source != rule.source:
            return None
        why.append(f"source: {rule.source}")
    if rule.in_category_id is not None:
        if rule.in_category_id not in facts.category_ancestry:
            return None
        why.append("category")
    if rule.requester_domain:
        domain = facts.requester_email.rpartition("@")[2].lower()
        if domain != rule.requester_domain and not domain.endswith("." + rule.requester_domain):
            return None
        why.append(f"requester at {rule.requester_domain}")
    return why


def first_match(rules: Iterable[RuleSpec], facts: Facts) -> tuple[RuleSpec, list[str]] | None:
    for rule in rules:
        why = reasons(rule, facts)
        if why is not None:
            return rule, why
    return None
