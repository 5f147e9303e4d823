"""The rules a policy and a calendar must follow, shared by the services (which raise
ApplicationError), the admin forms (which show the messages on the fields) and the API.

Each `*_problems` function returns {field: [messages]}; empty means valid.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time

from django.utils.translation import gettext as _

from apps.tickets.tree import descendants

from .calendar import Shift, shifts_overlap
from .choices import (
    BREACH,
    DEFAULT_PAUSE_STATUSES,
    DEFAULT_WARNING_THRESHOLDS,
    PAUSABLE_STATUSES,
    PRIORITIES,
    EscalationAction,
    Metric,
    StepMetric,
    Weekday,
)

MAX_TARGET_MINUTES = 366 * 24 * 60  # a year of business minutes is already absurd
WEEKDAY_NAMES = dict(Weekday.choices)


# --- Inputs --------------------------------------------------------------------------------


@dataclass
class StepInput:
    at_percent: int
    action: str
    metric: str = StepMetric.ANY
    team: object | None = None  # accounts.Team
    position: int = 0


@dataclass
class PolicyInput:
    name: str
    calendar: object | None  # SlaCalendar
    targets: Mapping
    order: int = 100
    active: bool = True
    description: str = ""
    categories: Sequence = ()  # tickets.Category
    teams: Sequence = ()  # accounts.Team
    pause_statuses: Sequence[str] = field(default_factory=lambda: list(DEFAULT_PAUSE_STATUSES))
    warning_thresholds: Sequence[int] = field(default_factory=lambda: list(DEFAULT_WARNING_THRESHOLDS))
    escalations: Sequence[StepInput] = ()


@dataclass
class ShiftInput:
    weekday: int
    start: time
    end: time


@dataclass
class HolidayInput:
    date: date
    name: str = ""


@dataclass
class CalendarInput:
    name: str
    timezone: str = "UTC"
    always_open: bool = False
    holiday_country: str = ""
    holiday_subdivision: str = ""
    shifts: Sequence[ShiftInput] = ()
    holidays: Sequence[HolidayInput] = ()


def _add(errors: dict[str, list[str]], key: str, message: str) -> None:
    errors.setdefault(key, []).append(message)


# --- Targets -------------------------------------------------------------------------------


def _minutes(value) -> int | None:
    """A target in minutes: None/"" for "no target", else a positive integer."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(_("must be a number of minutes"))
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(_("must be a whole number of minutes")) from exc
    if number != value and not isinstance(value, str):
        raise ValueError(_("must be a whole number of minutes"))
    if number <= 0:
        raise ValueError(_("must be a positive number of minutes (zero and negative targets are refused)"))
    if number > MAX_TARGET_MINUTES:
        raise ValueError(_("must be at most %(max)s minutes") % {"max": MAX_TARGET_MINUTES})
    return number


def targets_clean(raw) -> tuple[dict[str, dict[str, int | None]], dict[str, list[str]]]:
    """({priority: {metric: minutes | None}} with only priorities that have a target, errors).

    Error keys are `targets` or `targets.<P>.<metric>` (the admin form maps them to its
    per-priority fields)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, dict[str, int | None]] = {}
    if not isinstance(raw, Mapping):
        _add(errors, "targets", _("Targets must map priorities (P1-P4) to first response and resolution minutes."))
        return clean, errors
    for priority, metrics in raw.items():
        if priority not in PRIORITIES:
            _add(errors, "targets", _("Unknown priority %(priority)r: use %(values)s.")
                 % {"priority": priority, "values": ", ".join(PRIORITIES)})
            continue
        if metrics is None:
            continue
        if not isinstance(metrics, Mapping):
            _add(errors, f"targets.{priority}",
                 _("%(priority)s: give first_response and/or resolution minutes.") % {"priority": priority})
            continue
        row: dict[str, int | None] = {}
        for metric, value in metrics.items():
            if metric not in Metric.values:
                _add(errors, f"targets.{priority}", _("%(priority)s: unknown metric %(metric)r (use %(values)s).")
                     % {"priority": priority, "metric": metric, "values": ", ".join(Metric.values)})
                continue
            try:
                row[metric] = _minutes(value)
            except ValueError as exc:
                _add(errors, f"targets.{priority}.{metric}", _("%(priority)s %(metric)s: %(problem)s.")
                     % {"priority": priority, "metric": str(Metric(metric).label).lower(), "problem": exc})
        if any(v is not None for v in row.values()):
            clean[priority] = {metric: row.get(metric) for metric in Metric.values}
    if not clean and not errors:
        _add(errors, "targets", _("Give at least one target (first response or resolution) for at least one priority."))
    return clean, errors


# --- Policies ------------------------------------------------------------------------------


def thresholds_problems(thresholds: Iterable) -> tuple[list[int], list[str]]:
    values: list[int] = []
    problems: list[str] = []
    for value in thresholds:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(_("%(value)r is not a whole percentage.") % {"value": value})
        elif not 1 <= value <= 99:
            problems.append(_("%(value)s%% is out of range: warnings lie between 1 and 99 %% (100 %% is the breach).")
                            % {"value": value})
        elif value in values:
            problems.append(_("%(value)s%% is listed twice.") % {"value": value})
        else:
            values.append(value)
    return sorted(values), problems


def policy_problems(
    data: PolicyInput, *, others: Sequence | None = None, category_tree: Mapping | None = None
) -> dict[str, list[str]]:
    """Everything wrong with `data`. `others` are the other stored policies (with
    `category_ids`/`team_ids` attributes, see selectors.policy_specs) for the overlap rule."""
    errors: dict[str, list[str]] = {}
    if not (data.name or "").strip():
        _add(errors, "name", _("A policy needs a name."))
    if data.calendar is None:
        _add(errors, "calendar", _("Choose the calendar the clocks follow."))
    if isinstance(data.order, bool) or not isinstance(data.order, int) or data.order < 0:
        _add(errors, "order", _("The order is a whole number, 0 or more."))
    targets, target_errors = targets_clean(data.targets)
    for key, messages in target_errors.items():
        errors.setdefault(key, []).extend(messages)
    thresholds, problems = thresholds_problems(data.warning_thresholds)
    for message in problems:
        _add(errors, "warning_thresholds", message)
    for status in data.pause_statuses:
        if status not in PAUSABLE_STATUSES:
            _add(errors, "pause_statuses", _("%(status)r cannot pause a clock: use %(values)s.")
                 % {"status": status, "values": ", ".join(PAUSABLE_STATUSES)})
    for index, step in enumerate(data.escalations):
        for message in step_problems(step, thresholds):
            _add(errors, f"escalations.{index}", message)
    if data.active and others and not target_errors and not (isinstance(data.order, bool) or not isinstance(data.order, int)):
        mine = PolicyShape(
            pk=None,
            name=data.name,
            order=data.order,
            priorities=frozenset(targets),
            category_ids=frozenset(getattr(c, "pk", c) for c in data.categories),
            team_ids=frozenset(getattr(t, "pk", t) for t in data.teams),
        )
        for other in others:
            if not other.active or other.order != data.order:
                continue
            clash = overlap(mine, other, category_tree or {})
            if clash:
                _add(
                    errors,
                    "order",
                    _("Policy “%(name)s” has the same order (%(order)s) and also matches %(clash)s. "
                      "Give one of them another order, or make their priorities, categories or teams disjoint.")
                    % {"name": other.name, "order": other.order, "clash": clash},
                )
    return errors


def step_problems(step: StepInput, thresholds: Sequence[int]) -> list[str]:
    """What is wrong with one escalation step of a policy with these warning thresholds."""
    problems = []
    if step.action not in EscalationAction.values:
        problems.append(_("Unknown action %(action)r.") % {"action": step.action})
    if step.metric not in StepMetric.values:
        problems.append(_("Unknown metric %(metric)r.") % {"metric": step.metric})
    if step.at_percent != BREACH and step.at_percent not in thresholds:
        allowed = ", ".join(f"{t}%" for t in [*sorted(thresholds), BREACH])
        problems.append(_("A step runs at a warning threshold or at the breach: %(percent)s%% is not one of %(allowed)s.")
                        % {"percent": step.at_percent, "allowed": allowed})
    if step.action == EscalationAction.REASSIGN_TEAM and step.team is None:
        problems.append(_("Choose the team to reassign to."))
    if step.action != EscalationAction.REASSIGN_TEAM and step.team is not None:
        problems.append(_("Only 'reassign to a team' takes a team."))
    return problems


@dataclass(frozen=True)
class PolicyShape:
    """What matching needs to know about a policy (no ORM)."""

    pk: int | None
    name: str
    order: int
    priorities: frozenset[str]
    category_ids: frozenset[int]  # as configured (descendants are matched too)
    team_ids: frozenset[int]
    active: bool = True


def overlap(a: PolicyShape, b: PolicyShape, tree: Mapping) -> str:
    """A description of tickets both policies match, or "" when they match none in common."""
    priorities = sorted(a.priorities & b.priorities)
    if not priorities:
        return ""
    if a.category_ids and b.category_ids:
        common = descendants(a.category_ids, tree) & descendants(b.category_ids, tree)
        if not common:
            return ""
        categories = _("in overlapping categories")
    else:
        categories = _("in any category") if not (a.category_ids or b.category_ids) else _("in the same categories")
    if a.team_ids and b.team_ids:
        if not a.team_ids & b.team_ids:
            return ""
        teams = _("of a common team")
    else:
        teams = _("of any team") if not (a.team_ids or b.team_ids) else _("of the same teams")
    return _("%(priorities)s tickets %(categories)s %(teams)s") % {
        "priorities": "/".join(priorities), "categories": categories, "teams": teams}


# --- Calendars -----------------------------------------------------------------------------


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def supported_countries() -> dict[str, list[str]]:
    import holidays

    return holidays.list_supported_countries()


def calendar_problems(data: CalendarInput) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not (data.name or "").strip():
        _add(errors, "name", _("A calendar needs a name."))
    if data.timezone not in _zones():
        _add(errors, "timezone", _("Unknown time zone %(zone)r: use an IANA name such as Europe/Warsaw.")
             % {"zone": data.timezone})
    country = (data.holiday_country or "").strip()
    subdivision = (data.holiday_subdivision or "").strip()
    if country:
        countries = supported_countries()
        if country not in countries:
            _add(errors, "holiday_country", _("No public holidays are known for %(country)r: use an ISO code such as PL or US.")
                 % {"country": country})
        elif subdivision and subdivision not in countries[country]:
            known = ", ".join(countries[country][:30]) or _("none")
            _add(errors, "holiday_subdivision", _("%(country)s has no subdivision %(subdivision)r (known: %(known)s).")
                 % {"country": country, "subdivision": subdivision, "known": known})
    elif subdivision:
        _add(errors, "holiday_subdivision", _("A subdivision needs a country."))
    if not data.always_open:
        if not data.shifts:
            _add(errors, "shifts", _("A calendar needs business hours: add at least one shift, or make it 24x7."))
        shifts = []
        for shift in data.shifts:
            if not 0 <= int(shift.weekday) <= 6:
                _add(errors, "shifts", _("Weekday %(weekday)s is not 0 (Monday) to 6 (Sunday).") % {"weekday": shift.weekday})
                continue
            shifts.append(Shift(int(shift.weekday), shift.start, shift.end))
        for a, b in shifts_overlap(shifts):
            _add(
                errors,
                "shifts",
                _("%(first)s overlaps %(second)s.") % {
                    "first": f"{WEEKDAY_NAMES[a.weekday]} {a.start:%H:%M}-{a.end:%H:%M}",
                    "second": f"{WEEKDAY_NAMES[b.weekday]} {b.start:%H:%M}-{b.end:%H:%M}"},
            )
    seen: set[date] = set()
    for holiday in data.holidays:
        if holiday.date in seen:
            _add(errors, "holidays", _("%(date)s is listed twice.") % {"date": f"{holiday.date:%Y-%m-%d}"})
        seen.add(holiday.date)
    return errors
