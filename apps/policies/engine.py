"""The policy engine: rules + facts -> verdict. Pure Python: no ORM, no I/O, no clock.

This module is the one gate every write passes (like Zulip's `access_*` functions),
so it is small, explicit and heavily tested: one condition per line, no cleverness.

* `parse_rules(data)` turns stored or drafted JSON into frozen `Rule`s and says, per
  field, what is wrong when it cannot (`RuleSetInvalid.errors`).
* `evaluate(rules, action, read)` returns a `Verdict`. Facts are pulled through
  `read(key)` (keys like `actor.role`, `resource.category`, `context.to`,
  `tenant.region`); the live reader walks the real objects, the simulation reader
  replays a stored snapshot and raises `UnknownFact` for keys it never recorded.

Semantics (docs/policies.md has the long form):
1. Only rules whose action pattern covers the action are considered.
2. Rules are grouped by priority; the highest group with a matching rule decides.
3. In that group a matching deny beats any matching allow.
4. The obligations of every matching allow in that group apply together.
5. Nothing matches: deny, "no rule allows".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .actions import ACTIONS, action_matches, pattern_is_valid

ALLOW = "allow"
DENY = "deny"
EFFECTS = (ALLOW, DENY)
NO_RULE_ALLOWS = "no rule allows"

# Mirrors apps.accounts.models.Role (a test keeps them equal); this module stays ORM-free.
ROLES = ("requester", "agent", "admin")

EQUALS = "equals"
NOT_EQUALS = "not_equals"
IN = "in"
NOT_IN = "not_in"
ANY = "any"
ALL = "all"
IS_ACTOR = "is_actor"
SCALAR_OPERATORS = (EQUALS, NOT_EQUALS)
LIST_OPERATORS = (IN, NOT_IN, ANY, ALL)
OPERATORS = (*SCALAR_OPERATORS, *LIST_OPERATORS, IS_ACTOR)

SCOPE_ACTION = "action"
SCOPE_CONNECTOR = "connector"
CAP_SCOPES = (SCOPE_ACTION, SCOPE_CONNECTOR)
MAX_CAP_LIMIT = 1_000_000
MAX_CAP_WINDOW = 31 * 24 * 3600

REQUIRE_APPROVAL = "require_approval"
CAP = "cap"

MAX_NAME_LENGTH = 100
MAX_PRIORITY = 10_000
MAX_CONDITIONS = 20
MAX_LIST_VALUES = 100
MAX_PATH_SEGMENTS = 6

# Facts about who is acting. `actor.kind` is user, integration, system or anonymous.
ACTOR_FACTS = ("actor.kind", "actor.id", "actor.role", "actor.active", "actor.teams", "actor.integration")
TENANT_FACTS = ("tenant.region",)
PATH_ROOTS = ("resource", "context")
PATH_SEGMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Facts are copied into the decision log: a rule may not read anything credential-like.
SECRET_SEGMENT = re.compile(r"password|passwd|secret|token|api_?key|authorization|private_key|credential", re.IGNORECASE)
INTEGRATION_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

SUBJECT_ANY = "*"
SUBJECT_SYSTEM = "system"
SUBJECT_HELP = "use *, system, role:<requester|agent|admin>, user:<id>, team:<id> or integration:<name>"

RULE_KEYS = frozenset({"name", "subject", "action", "effect", "priority", "conditions", "obligations"})
CONDITION_KEYS = frozenset({"field", "op", "value"})
OBLIGATION_KEYS = frozenset({REQUIRE_APPROVAL, CAP})
CAP_KEYS = frozenset({"limit", "window", "scope"})

FactReader = Callable[[str], Any]


class _AnyAction:
    """`known_actions` for stored versions: an action unregistered since matches nothing."""

    def __contains__(self, name: object) -> bool:
        return True

    def names(self) -> list[str]:
        return []


ANY_ACTION = _AnyAction()


class UnknownFact(LookupError):
    """A reader was asked for a fact it cannot provide (simulation: never recorded)."""


class CapScopeUnknown(ValueError):
    """A connector-scoped cap applies but nothing names the connector."""


class RuleSetInvalid(ValueError):
    """Rules that cannot be used. `errors` maps a location to messages.

    Locations are `rules[<i>].<field>` for one rule's field, `rules[<i>]` for the rule
    as a whole and `rules` for the set (e.g. duplicate names).
    """

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        first = next(iter(errors.items()))
        super().__init__(f"{first[0]}: {first[1][0]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))


class RuleInvalid(ValueError):
    """One rule that cannot be used. `errors` maps a rule field (or `rule`) to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in errors.items()))


@dataclass(frozen=True)
class Subject:
    kind: str  # any | system | role | user | team | integration
    value: str | int | None = None

    def __str__(self) -> str:
        if self.kind == "any":
            return SUBJECT_ANY
        if self.kind == "system":
            return SUBJECT_SYSTEM
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any = None  # a scalar, or a tuple for list operators

    def as_dict(self) -> dict:
        data: dict[str, Any] = {"field": self.field, "op": self.op}
        if self.op in LIST_OPERATORS:
            data["value"] = list(self.value)
        elif self.op in SCALAR_OPERATORS:
            data["value"] = self.value
        return data


@dataclass(frozen=True)
class Cap:
    limit: int
    window: int  # seconds
    scope: str  # action | connector

    def as_dict(self) -> dict:
        return {"limit": self.limit, "window": self.window, "scope": self.scope}


@dataclass(frozen=True)
class Obligation:
    """Something the caller must honour when an allow carries it.

    `require_approval`: the action may go ahead only after a human approves it.
    `cap`: the decision service consumes one unit of a fixed-window counter and denies
    ("cap exceeded") once `limit` units were used in the current `window` seconds.
    """

    kind: str
    limit: int | None = None
    window: int | None = None
    scope: str | None = None
    rule: str = field(default="", compare=False)

    def as_dict(self) -> dict:
        data: dict[str, Any] = {"kind": self.kind, "rule": self.rule}
        if self.kind == CAP:
            data.update(limit=self.limit, window=self.window, scope=self.scope)
        return data


@dataclass(frozen=True)
class Rule:
    name: str
    subjects: tuple[Subject, ...]
    action: str
    effect: str
    priority: int = 0
    conditions: tuple[Condition, ...] = ()
    require_approval: bool = False
    cap: Cap | None = None

    def applies_to(self, action: str) -> bool:
        return action_matches(self.action, action)

    def obligations(self) -> tuple[Obligation, ...]:
        found: list[Obligation] = []
        if self.require_approval:
            found.append(Obligation(kind=REQUIRE_APPROVAL, rule=self.name))
        if self.cap is not None:
            found.append(Obligation(kind=CAP, limit=self.cap.limit, window=self.cap.window, scope=self.cap.scope, rule=self.name))
        return tuple(found)

    def as_dict(self) -> dict:
        """The canonical JSON form, as stored in a PolicyVersion."""
        subjects = [str(s) for s in self.subjects]
        return {
            "name": self.name,
            "subject": subjects[0] if len(subjects) == 1 else subjects,
            "action": self.action,
            "effect": self.effect,
            "priority": self.priority,
            "conditions": [c.as_dict() for c in self.conditions],
            "obligations": {
                REQUIRE_APPROVAL: self.require_approval,
                CAP: self.cap.as_dict() if self.cap else None,
            },
        }


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reasons: tuple[str, ...]
    obligations: tuple[Obligation, ...] = ()
    rules: tuple[str, ...] = ()  # names of the rules that decided


# --- Parsing and validation -----------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def parse_subject(text: Any) -> Subject:
    """`*`, `system`, `role:agent`, `user:42`, `team:7` or `integration:servicenow`."""
    if not isinstance(text, str):
        raise ValueError(f"a subject is a string ({SUBJECT_HELP})")
    text = text.strip()
    if text == SUBJECT_ANY:
        return Subject("any")
    if text == SUBJECT_SYSTEM:
        return Subject("system")
    kind, sep, value = text.partition(":")
    if not sep:
        raise ValueError(f"unknown subject {text!r}: {SUBJECT_HELP}")
    value = value.strip()
    if kind == "role":
        if value not in ROLES:
            raise ValueError(f"unknown role {value!r}: use one of {', '.join(ROLES)}")
        return Subject("role", value)
    if kind in ("user", "team"):
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{kind}: needs a numeric id, got {value!r}")
        return Subject(kind, int(value))
    if kind == "integration":
        if not INTEGRATION_NAME.match(value):
            raise ValueError(f"invalid integration name {value!r}: lower case letters, digits, - and _")
        return Subject("integration", value)
    raise ValueError(f"unknown subject {text!r}: {SUBJECT_HELP}")


def validate_fact_key(key: Any) -> str:
    """A condition's `field`: `resource.<path>`, `context.<path>`, `tenant.region` or an actor fact."""
    if not isinstance(key, str) or not key:
        raise ValueError("a field is a non-empty string such as 'resource.category'")
    if key in ACTOR_FACTS or key in TENANT_FACTS:
        return key
    root, _, path = key.partition(".")
    if root not in PATH_ROOTS or not path:
        raise ValueError(
            f"unknown field {key!r}: start with resource. or context., or use {', '.join(TENANT_FACTS + ACTOR_FACTS)}"
        )
    segments = path.split(".")
    if len(segments) > MAX_PATH_SEGMENTS:
        raise ValueError(f"field {key!r} is nested too deep (at most {MAX_PATH_SEGMENTS} parts)")
    for segment in segments:
        if not PATH_SEGMENT.match(segment):
            raise ValueError(f"field {key!r}: {segment!r} is not a plain name (letters, digits, _; no leading _)")
        if SECRET_SEGMENT.search(segment):
            raise ValueError(f"field {key!r}: rules may not read secrets ({segment!r})")
    return key


def parse_condition(data: Any) -> Condition:
    if not isinstance(data, Mapping):
        raise ValueError("a condition is an object with field, op and value")
    unknown = set(data) - CONDITION_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    key = validate_fact_key(data.get("field"))
    op = data.get("op")
    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}: use one of {', '.join(OPERATORS)}")
    if op == IS_ACTOR:
        if "value" in data:
            raise ValueError("is_actor takes no value")
        return Condition(key, op)
    if "value" not in data:
        raise ValueError(f"{op} needs a value")
    value = data["value"]
    if op in SCALAR_OPERATORS:
        if not _is_scalar(value):
            raise ValueError(f"{op} compares with one string, number, boolean or null")
        return Condition(key, op, value)
    if not isinstance(value, list) or not value:
        raise ValueError(f"{op} needs a non-empty list of values")
    if len(value) > MAX_LIST_VALUES:
        raise ValueError(f"{op} takes at most {MAX_LIST_VALUES} values")
    if not all(_is_scalar(item) for item in value):
        raise ValueError(f"{op} values are strings, numbers, booleans or null")
    return Condition(key, op, tuple(value))


def parse_cap(data: Any) -> Cap:
    if not isinstance(data, Mapping):
        raise ValueError("a cap is an object with limit, window (seconds) and scope")
    unknown = set(data) - CAP_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    limit = data.get("limit")
    window = data.get("window")
    scope = data.get("scope", SCOPE_ACTION)
    if not _is_int(limit) or not 1 <= limit <= MAX_CAP_LIMIT:
        raise ValueError(f"cap limit must be a whole number from 1 to {MAX_CAP_LIMIT}")
    if not _is_int(window) or not 1 <= window <= MAX_CAP_WINDOW:
        raise ValueError(f"cap window must be a whole number of seconds from 1 to {MAX_CAP_WINDOW}")
    if scope not in CAP_SCOPES:
        raise ValueError(f"cap scope must be one of {', '.join(CAP_SCOPES)}")
    return Cap(limit=limit, window=window, scope=scope)


def parse_rule(data: Any, *, known_actions: Container[str] = ACTIONS) -> Rule:
    """One rule from its JSON form; `RuleInvalid` lists every problem, by field."""
    if not isinstance(data, Mapping):
        raise RuleInvalid({"rule": ["a rule is a JSON object"]})
    errors: dict[str, list[str]] = {}

    def fail(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    unknown = set(data) - RULE_KEYS
    if unknown:
        fail("rule", f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")

    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        fail("name", "a rule needs a name")
    elif len(name.strip()) > MAX_NAME_LENGTH:
        fail("name", f"at most {MAX_NAME_LENGTH} characters")

    raw_subjects = data.get("subject")
    if isinstance(raw_subjects, str):
        raw_subjects = [raw_subjects]
    subjects: list[Subject] = []
    if not isinstance(raw_subjects, list) or not raw_subjects:
        fail("subject", f"a rule needs a subject ({SUBJECT_HELP})")
    else:
        for raw in raw_subjects:
            try:
                subjects.append(parse_subject(raw))
            except ValueError as exc:
                fail("subject", str(exc))

    action = data.get("action")
    if not isinstance(action, str) or not pattern_is_valid(action):
        fail("action", "an action is a registered name such as 'ticket.create', a pattern such as 'ticket.*', or *")
    elif not _pattern_covers_known(action, known_actions):
        fail("action", f"unknown action {action!r}")

    effect = data.get("effect")
    if effect not in EFFECTS:
        fail("effect", "effect must be allow or deny")

    priority = data.get("priority", 0)
    if not _is_int(priority) or not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        fail("priority", f"priority must be a whole number from {-MAX_PRIORITY} to {MAX_PRIORITY}")

    conditions: list[Condition] = []
    raw_conditions = data.get("conditions", [])
    if raw_conditions is None:
        raw_conditions = []
    if not isinstance(raw_conditions, list):
        fail("conditions", "conditions are a list of objects")
    elif len(raw_conditions) > MAX_CONDITIONS:
        fail("conditions", f"at most {MAX_CONDITIONS} conditions")
    else:
        for number, raw in enumerate(raw_conditions, start=1):
            try:
                conditions.append(parse_condition(raw))
            except ValueError as exc:
                fail("conditions", f"condition {number}: {exc}")

    require_approval = False
    cap: Cap | None = None
    obligations = data.get("obligations", {})
    if obligations is None:
        obligations = {}
    if not isinstance(obligations, Mapping):
        fail("obligations", "obligations are an object with require_approval and cap")
    else:
        unknown = set(obligations) - OBLIGATION_KEYS
        if unknown:
            fail("obligations", f"unknown obligation(s) {', '.join(sorted(map(str, unknown)))}")
        require_approval = obligations.get(REQUIRE_APPROVAL, False)
        if not isinstance(require_approval, bool):
            fail("obligations", "require_approval is true or false")
        if obligations.get(CAP) is not None:
            try:
                cap = parse_cap(obligations[CAP])
            except ValueError as exc:
                fail("cap", str(exc))
        if effect == DENY and (require_approval is True or obligations.get(CAP) is not None):
            fail("obligations", "a deny rule cannot carry obligations")

    if errors:
        raise RuleInvalid(errors)
    return Rule(
        name=name.strip(),
        subjects=tuple(dict.fromkeys(subjects)),
        action=action,
        effect=effect,
        priority=priority,
        conditions=tuple(conditions),
        require_approval=require_approval,
        cap=cap,
    )


def _pattern_covers_known(pattern: str, known_actions: Container[str]) -> bool:
    if pattern == "*":
        return True
    if isinstance(known_actions, _AnyAction):
        return True
    if pattern.endswith(".*"):
        names = getattr(known_actions, "names", None)
        candidates = names() if callable(names) else list(known_actions)  # type: ignore[call-overload]
        return any(action_matches(pattern, name) for name in candidates)
    return pattern in known_actions


def parse_rules(data: Any, *, known_actions: Container[str] = ACTIONS) -> tuple[Rule, ...]:
    """A whole rule set; `RuleSetInvalid` lists every problem of every rule."""
    if not isinstance(data, list):
        raise RuleSetInvalid({"rules": ["rules are a JSON list of rule objects"]})
    errors: dict[str, list[str]] = {}
    rules: list[Rule] = []
    for index, raw in enumerate(data):
        try:
            rules.append(parse_rule(raw, known_actions=known_actions))
        except RuleInvalid as exc:
            for key, messages in exc.errors.items():
                location = f"rules[{index}]" if key == "rule" else f"rules[{index}].{key}"
                errors.setdefault(location, []).extend(messages)
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            errors.setdefault("rules", []).append(f"two rules are named {rule.name!r}; names must be unique")
        seen.add(rule.name)
    if errors:
        raise RuleSetInvalid(errors)
    return tuple(rules)


def rules_as_json(rules: Sequence[Rule]) -> list[dict]:
    """Canonical JSON of a rule set: highest priority first, then by name."""
    ordered = sorted(rules, key=lambda rule: (-rule.priority, rule.name))
    return [rule.as_dict() for rule in ordered]


# --- Evaluation -----------------------------------------------------------------------


def _same(left: Any, right: Any) -> bool:
    """Equality that does not confuse True with 1 or False with 0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    return left == right


def _as_list(fact: Any) -> list:
    if fact is None:
        return []
    if isinstance(fact, list | tuple):
        return list(fact)
    return [fact]


def _contains(values: Sequence, wanted: Any) -> bool:
    return any(_same(value, wanted) for value in values)


def subject_matches(subject: Subject, read: FactReader) -> bool:
    kind = read("actor.kind")
    if subject.kind == "system":
        return kind == "system"
    if subject.kind == "integration":
        return kind == "integration" and read("actor.integration") == subject.value
    if subject.kind == "any":
        if kind in ("system", "integration"):
            return True
        return kind == "user" and read("actor.active") is True
    if kind != "user":
        return False
    if read("actor.active") is not True:
        return False
    if subject.kind == "role":
        return read("actor.role") == subject.value
    if subject.kind == "user":
        return _same(read("actor.id"), subject.value)
    if subject.kind == "team":
        return _contains(_as_list(read("actor.teams")), subject.value)
    return False


def condition_holds(condition: Condition, read: FactReader) -> bool:
    fact = read(condition.field)
    op = condition.op
    if op == EQUALS:
        return _same(fact, condition.value)
    if op == NOT_EQUALS:
        return not _same(fact, condition.value)
    if op == IN:
        return _contains(condition.value, fact)
    if op == NOT_IN:
        return not _contains(condition.value, fact)
    if op == ANY:
        return any(_contains(_as_list(fact), wanted) for wanted in condition.value)
    if op == ALL:
        return all(_contains(_as_list(fact), wanted) for wanted in condition.value)
    if op == IS_ACTOR:
        if read("actor.kind") != "user":
            return False
        if fact is None:
            return False
        return _same(fact, read("actor.id"))
    raise ValueError(f"unknown operator {op!r}")


def rule_matches(rule: Rule, read: FactReader) -> bool:
    if not any(subject_matches(subject, read) for subject in rule.subjects):
        return False
    return all(condition_holds(condition, read) for condition in rule.conditions)


class CompiledRules:
    """A parsed rule set, indexed for evaluation. Build it once per policy version.

    `evaluate` needs, for one action, the rules covering it grouped into priority tiers
    from the highest down. Computing that means matching every rule's action pattern
    and sorting: with 200 rules that costs more than the evaluation itself, and it is
    the same answer for every decision under one version. The index is filled per
    action on first use (the action registry grows as apps load, and simulation replays
    whatever actions the log holds), and bounded so arbitrary action strings cannot
    grow it without limit. Instances are immutable from the outside and safe to share
    between threads: a race only computes the same entry twice.
    """

    MAX_INDEXED_ACTIONS = 1024

    __slots__ = ("_facts", "_tiers", "rules")

    def __init__(self, rules: Sequence[Rule]):
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._tiers: dict[str, tuple[tuple[Rule, ...], ...]] = {}
        self._facts: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self):
        return iter(self.rules)

    def tiers(self, action: str) -> tuple[tuple[Rule, ...], ...]:
        """The rules covering `action`, grouped by priority, highest first; each tier in rule order."""
        found = self._tiers.get(action)
        if found is None:
            candidates = [rule for rule in self.rules if rule.applies_to(action)]
            priorities = sorted({rule.priority for rule in candidates}, reverse=True)
            found = tuple(tuple(rule for rule in candidates if rule.priority == p) for p in priorities)
            if len(self._tiers) < self.MAX_INDEXED_ACTIONS:
                self._tiers[action] = found
        return found

    def facts_used(self, action: str) -> list[str]:
        found = self._facts.get(action)
        if found is None:
            found = _facts_used(rule for tier in self.tiers(action) for rule in tier)
            if len(self._facts) < self.MAX_INDEXED_ACTIONS:
                self._facts[action] = found
        return list(found)


def compile_rules(rules: Sequence[Rule] | CompiledRules) -> CompiledRules:
    return rules if isinstance(rules, CompiledRules) else CompiledRules(rules)


def evaluate(rules: Sequence[Rule] | CompiledRules, action: str, read: FactReader) -> Verdict:
    """The verdict of `rules` on `action` for the facts behind `read`.

    Pass a `CompiledRules` when evaluating the same set more than once. Exceptions
    from `read` propagate: the caller turns them into a denial.
    """
    for tier in compile_rules(rules).tiers(action):
        matched = [rule for rule in tier if rule_matches(rule, read)]
        denying = [rule for rule in matched if rule.effect == DENY]
        if denying:
            return Verdict(
                allowed=False,
                reasons=tuple(f"denied by rule {rule.name!r}" for rule in denying),
                rules=tuple(rule.name for rule in denying),
            )
        if matched:
            obligations: dict[Obligation, None] = {}
            for rule in matched:
                for obligation in rule.obligations():
                    obligations.setdefault(obligation, None)
            return Verdict(
                allowed=True,
                reasons=tuple(f"allowed by rule {rule.name!r}" for rule in matched),
                obligations=tuple(obligations),
                rules=tuple(rule.name for rule in matched),
            )
    return Verdict(allowed=False, reasons=(NO_RULE_ALLOWS,))


def facts_used(rules: Sequence[Rule] | CompiledRules, action: str) -> list[str]:
    """Every fact key the rules covering `action` may read: what a decision log keeps."""
    if isinstance(rules, CompiledRules):
        return rules.facts_used(action)
    return _facts_used(rule for rule in rules if rule.applies_to(action))


def _facts_used(rules: Iterable[Rule]) -> list[str]:
    keys: dict[str, None] = {}
    for rule in rules:
        for subject in rule.subjects:
            if subject.kind == "team":
                keys["actor.teams"] = None
        for condition in rule.conditions:
            keys[condition.field] = None
        if rule.cap is not None and rule.cap.scope == SCOPE_CONNECTOR:
            keys["context.connector"] = None
            keys["resource.connector"] = None
    return sorted(keys)


def cap_key(obligation: Obligation, action: str, read: FactReader) -> str:
    """The counter a cap obligation draws on: per action, or per connector named by the call."""
    if obligation.scope == SCOPE_ACTION:
        return f"action:{action}:{obligation.window}"
    name = read("context.connector") or read("resource.connector") or read("actor.integration")
    if not isinstance(name, str) or not name:
        raise CapScopeUnknown("a connector-scoped cap applies but the call names no connector")
    return f"connector:{name}:{obligation.window}"
