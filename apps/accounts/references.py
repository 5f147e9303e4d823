"""What still depends on a team, asked before the team is deleted.

The apps that point at teams sit above `accounts` (tickets queue in a team, SLA policies
are limited to teams), so they tell `team_delete` about their references through this
registry, filled from their `AppConfig.ready()`:

    register_team_reference(open_tickets_in_queue)

A check returns one sentence per reason the team must stay (empty: none).
"""

from __future__ import annotations

from collections.abc import Callable

TeamReferenceCheck = Callable[[object], list[str]]

_CHECKS: list[TeamReferenceCheck] = []


def register_team_reference(check: TeamReferenceCheck) -> None:
    if check not in _CHECKS:
        _CHECKS.append(check)


def team_references(team) -> list[str]:
    """Every registered reason why `team` cannot be deleted now."""
    problems: list[str] = []
    for check in _CHECKS:
        problems.extend(check(team))
    return problems
