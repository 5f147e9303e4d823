"""Impact x urgency -> priority (the ITIL matrix). Pure Python, no ORM.

Levels: 1 high, 2 medium, 3 low. The default matrix (rows impact, columns urgency):

                urgency 1   urgency 2   urgency 3
    impact 1       P1          P2          P3
    impact 2       P2          P3          P4
    impact 3       P3          P4          P4

A tenant may store its own matrix (PriorityMatrix row); it is validated here.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext as _

LEVELS = (1, 2, 3)
PRIORITIES = ("P1", "P2", "P3", "P4")

DEFAULT_MATRIX: dict[str, dict[str, str]] = {
    "1": {"1": "P1", "2": "P2", "3": "P3"},
    "2": {"1": "P2", "2": "P3", "3": "P4"},
    "3": {"1": "P3", "2": "P4", "3": "P4"},
}


class MatrixInvalid(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def validate_matrix(matrix: object) -> dict[str, dict[str, str]]:
    """A complete 3x3 matrix of P1..P4 keyed by "1".."3" (impact) then "1".."3" (urgency)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(matrix, Mapping):
        raise MatrixInvalid({"matrix": [_("The matrix is an object: impact -> urgency -> priority.")]})
    clean: dict[str, dict[str, str]] = {}
    for impact in LEVELS:
        row = matrix.get(str(impact))
        if not isinstance(row, Mapping):
            errors[f"matrix.{impact}"] = [_("Impact %(impact)s needs a row for urgencies 1, 2 and 3.") % {"impact": impact}]
            continue
        clean[str(impact)] = {}
        for urgency in LEVELS:
            value = row.get(str(urgency))
            if value not in PRIORITIES:
                errors[f"matrix.{impact}.{urgency}"] = [_("Use one of %(values)s.") % {"values": ", ".join(PRIORITIES)}]
            else:
                clean[str(impact)][str(urgency)] = value
    extra = set(map(str, matrix)) - {str(level) for level in LEVELS}
    if extra:
        errors["matrix"] = [_("Unknown impact level(s): %(levels)s.") % {"levels": ", ".join(sorted(extra))}]
    if errors:
        raise MatrixInvalid(errors)
    return clean


def priority_for(impact: int, urgency: int, matrix: Mapping | None = None) -> str:
    if impact not in LEVELS or urgency not in LEVELS:
        raise ValueError("impact and urgency are 1 (high), 2 (medium) or 3 (low)")
    table = matrix or DEFAULT_MATRIX
    try:
        return table[str(impact)][str(urgency)]
    except (KeyError, TypeError):  # a damaged stored matrix never blocks ticket work
        return DEFAULT_MATRIX[str(impact)][str(urgency)]
