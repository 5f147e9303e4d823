"""Workflow templates: YAML text in, a checked `Template` out. No ORM.

A template names its steps in order; each step `uses` an action the engine knows, may run
only `if` a fact the run learnt holds (`!fact`: does not hold), and says what a failure
(`on_failure`, after `attempts`) or a wait too long (`timeout_minutes`, `on_timeout`)
does to the run. The text is validated against `schema.json` (JSON Schema) and then for
what a schema cannot say: step ids unique, actions and facts known. A template's hash
(sha256 of its text) is stored on each run, so that a run can be matched to the exact
text it followed.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent
SCHEMA = json.loads((HERE / "schema.json").read_text())


class TemplateInvalid(ValueError):
    """A template that does not validate; the message says where and why."""


@dataclass(frozen=True)
class StepSpec:
    id: str
    uses: str
    condition: str = ""  # a fact, "!fact", or "" (always)
    attempts: int = 1
    on_failure: str = "fail"
    timeout_minutes: int | None = None
    on_timeout: str = "escalate"

    def applies(self, facts: dict) -> bool:
        if not self.condition:
            return True
        negated = self.condition.startswith("!")
        held = bool(facts.get(self.condition.lstrip("!")))
        return not held if negated else held


@dataclass(frozen=True)
class Template:
    name: str
    version: int
    title: str
    hash: str
    steps: tuple[StepSpec, ...]

    def step(self, step_id: str) -> StepSpec:
        return next(s for s in self.steps if s.id == step_id)


def parse(text: str, *, actions: Iterable[str], facts: Iterable[str]) -> Template:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateInvalid(f"not YAML: {exc}") from None
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top)"
        raise TemplateInvalid(f"{where}: {first.message}")
    actions, facts = set(actions), set(facts)
    seen: set[str] = set()
    steps = []
    for raw in data["steps"]:
        if raw["id"] in seen:
            raise TemplateInvalid(f"steps: the id {raw['id']!r} is used twice")
        seen.add(raw["id"])
        if raw["uses"] not in actions:
            raise TemplateInvalid(f"steps/{raw['id']}: unknown action {raw['uses']!r} (known: {', '.join(sorted(actions))})")
        condition = raw.get("if", "")
        if condition and condition.lstrip("!") not in facts:
            raise TemplateInvalid(f"steps/{raw['id']}: unknown fact {condition!r} (known: {', '.join(sorted(facts))})")
        steps.append(StepSpec(id=raw["id"], uses=raw["uses"], condition=condition, attempts=raw.get("attempts", 1),
                              on_failure=raw.get("on_failure", "fail"), timeout_minutes=raw.get("timeout_minutes"),
                              on_timeout=raw.get("on_timeout", "escalate")))
    return Template(name=data["name"], version=data["version"], title=data.get("title", data["name"]),
                    hash=hashlib.sha256(text.encode()).hexdigest(), steps=tuple(steps))


@functools.cache
def _text(name: str) -> str:
    path = HERE / f"{name}.yaml"
    if not path.is_file() or path.parent != HERE:
        raise TemplateInvalid(f"no workflow template named {name!r}")
    return path.read_text()


def load(name: str, *, actions: Iterable[str], facts: Iterable[str]) -> Template:
    """The shipped template `name` (apps/triage/workflows/<name>.yaml), checked."""
    return parse(_text(name), actions=actions, facts=facts)
