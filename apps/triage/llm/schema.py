"""The model's answer: parsed as JSON and validated against a schema, the ids checked
against those offered. Pure Python (jsonschema). Anything invalid raises
`AnswerInvalid` with a short reason: the ticket then goes to people, nothing is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import jsonschema

WORK_NOTE_MAX = 500
RATIONALE_MAX = 1000
MAX_ANSWER_CHARS = 20_000
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL | re.IGNORECASE)

LEVEL = {"type": "integer", "minimum": 1, "maximum": 3}
ANSWER_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["category", "team", "impact", "urgency", "confidence", "rationale"],
    "properties": {
        "category": {"type": ["integer", "null"]},
        "team": {"type": ["integer", "null"]},
        "impact": LEVEL,
        "urgency": LEVEL,
        "work_note": {"type": "string", "maxLength": WORK_NOTE_MAX},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "rationale": {"type": "string", "maxLength": RATIONALE_MAX},
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(ANSWER_SCHEMA)


class AnswerInvalid(ValueError):
    """The answer is not usable; `reason` says why (English, for logs and the queue)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Answer:
    category: int | None
    team: int | None
    impact: int
    urgency: int
    work_note: str
    confidence: Decimal  # two decimal places, 0..1
    rationale: str


def _load(text: str):
    text = (text or "").strip()
    if not text:
        raise AnswerInvalid("the answer was empty")
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerInvalid("the answer was too long")
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        raise AnswerInvalid("the answer was not valid JSON") from None


def _refuse_constant(name: str):
    raise ValueError(name)  # NaN, Infinity


def parse(text: str, *, category_ids: Collection[int], team_ids: Collection[int]) -> Answer:
    """The validated answer, or AnswerInvalid."""
    data = _load(text)
    errors = sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "answer"
        raise AnswerInvalid(f"the answer did not match the schema ({where}: {first.validator} {first.validator_value!r})"[:200])
    if data["category"] is not None and data["category"] not in set(category_ids):
        raise AnswerInvalid(f"the answer named category {data['category']}, which was not offered")
    if data["team"] is not None and data["team"] not in set(team_ids):
        raise AnswerInvalid(f"the answer named team {data['team']}, which was not offered")
    if data["category"] is None and data["team"] is None:
        raise AnswerInvalid("the answer proposed neither a category nor a team")
    confidence = Decimal(str(data["confidence"])).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return Answer(category=data["category"], team=data["team"], impact=data["impact"], urgency=data["urgency"],
                  work_note=(data.get("work_note") or "").strip(), confidence=confidence,
                  rationale=data["rationale"].strip())
