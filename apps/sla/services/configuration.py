"""Configuration: SLA calendars and policies (policy `sla.configure`, validated by
`validation.py`, audited), and re-targeting the open clocks after a change commits."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.accounts.models import Team
from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.core.tasks import enqueue_on_commit
from apps.policies.services import policy_require
from apps.tickets.models import Category

from .. import selectors
from ..actions import SLA_CONFIGURE
from ..choices import StepMetric
from ..models import SlaCalendar, SlaCalendarHoliday, SlaCalendarShift, SlaClock, SlaEscalationStep, SlaPolicy
from ..validation import CalendarInput, PolicyInput, StepInput, calendar_problems, policy_problems, targets_clean


def _problem(errors: dict[str, list[str]], what: str) -> ApplicationError:
    detail = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in errors.items())
    return ApplicationError(f"{what}: {detail}", errors=errors)


def _calendar_snapshot(calendar: SlaCalendar) -> dict:
    return {
        "name": calendar.name,
        "timezone": calendar.timezone,
        "always_open": calendar.always_open,
        "holiday_country": calendar.holiday_country,
        "holiday_subdivision": calendar.holiday_subdivision,
        "shifts": [[s.weekday, s.start.strftime("%H:%M:%S"), s.end.strftime("%H:%M:%S")] for s in calendar.shifts.all()],
        "holidays": [[h.date.isoformat(), h.name] for h in calendar.extra_holidays.all()],
    }


@transaction.atomic
def sla_calendar_save(*, actor, data: CalendarInput, calendar: SlaCalendar | None = None) -> SlaCalendar:
    """Create or replace a calendar (hours and custom holidays included)."""
    creating = calendar is None or calendar.pk is None
    policy_require(
        actor,
        SLA_CONFIGURE,
        None if creating else calendar,
        {"object": "calendar", "operation": "create" if creating else "update"},
    )
    errors = calendar_problems(data)
    name = (data.name or "").strip()
    clash = SlaCalendar.objects.filter(name__iexact=name)
    if not creating:
        clash = clash.exclude(pk=calendar.pk)
    if name and clash.exists():
        errors.setdefault("name", []).append(gettext("A calendar named “%(name)s” already exists.") % {"name": name})
    if errors:
        raise _problem(errors, gettext("The calendar is not valid"))
    before = None if creating else _calendar_snapshot(SlaCalendar.objects.get(pk=calendar.pk))
    calendar = calendar or SlaCalendar()
    calendar.name = name
    calendar.timezone = data.timezone
    calendar.always_open = bool(data.always_open)
    calendar.holiday_country = (data.holiday_country or "").strip()
    calendar.holiday_subdivision = (data.holiday_subdivision or "").strip()
    calendar.updated_at = timezone.now()
    calendar.save()
    calendar.shifts.all().delete()
    SlaCalendarShift.objects.bulk_create(
        SlaCalendarShift(calendar=calendar, weekday=int(s.weekday), start=s.start, end=s.end) for s in data.shifts
    )
    calendar.extra_holidays.all().delete()
    SlaCalendarHoliday.objects.bulk_create(
        SlaCalendarHoliday(calendar=calendar, date=h.date, name=(h.name or "")[:100]) for h in data.holidays
    )
    after = _calendar_snapshot(calendar)
    audit_record(
        actor=actor,
        action="sla.calendar_created" if creating else "sla.calendar_updated",
        target=calendar,
        payload={"calendar": calendar.pk, "before": before, "after": after},
    )
    if not creating and before != after:
        calendar_id = calendar.pk
        _enqueue_recompute(calendar_id=calendar_id)
    return calendar


# --- Configuration: policies -----------------------------------------------------------------------


def _policy_snapshot(policy: SlaPolicy) -> dict:
    return {
        "name": policy.name,
        "description": policy.description,
        "order": policy.order,
        "active": policy.active,
        "targets": policy.targets,
        "calendar": policy.calendar_id,
        "categories": sorted(c.pk for c in policy.categories.all()),
        "teams": sorted(t.pk for t in policy.teams.all()),
        "pause_statuses": list(policy.pause_statuses),
        "warning_thresholds": list(policy.warning_thresholds),
        "escalations": [
            {"metric": s.metric, "at_percent": s.at_percent, "action": s.action, "team": s.team_id, "position": s.position}
            for s in policy.escalations.order_by("at_percent", "position", "pk")
        ],
    }


def sla_policy_problems(data: PolicyInput, *, policy: SlaPolicy | None = None) -> dict[str, list[str]]:
    """What is wrong with `data` as the new content of `policy` (None: a new policy)."""
    exclude = policy.pk if policy is not None and policy.pk else None
    others = selectors.policy_shapes(exclude_pk=exclude)
    tree = selectors.category_tree() if any(o.category_ids for o in others) or data.categories else {}
    errors = policy_problems(data, others=others, category_tree=tree)
    name = (data.name or "").strip()
    if name and any(o.name.lower() == name.lower() for o in others):
        errors.setdefault("name", []).append(gettext("A policy named “%(name)s” already exists.") % {"name": name})
    return errors


@transaction.atomic
def sla_policy_save(*, actor, data: PolicyInput, policy: SlaPolicy | None = None) -> SlaPolicy:
    """Create or replace a policy (conditions, targets and escalation steps included).

    Open clocks of the changed policy (and tickets without clocks, which it may now
    match) are re-targeted after commit by the `sla.recompute` task.
    """
    creating = policy is None or policy.pk is None
    policy_require(
        actor, SLA_CONFIGURE, None if creating else policy, {"object": "policy", "operation": "create" if creating else "update"}
    )
    # Serialise configuration changes of this tenant, so two admins cannot each pass
    # the overlap check and together create an overlap.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"sla.configure:{connection.schema_name}"])
    errors = sla_policy_problems(data, policy=policy)
    if errors:
        raise _problem(errors, gettext("The policy is not valid"))
    targets, _ = targets_clean(data.targets)
    before = None if creating else _policy_snapshot(SlaPolicy.objects.get(pk=policy.pk))
    policy = policy or SlaPolicy()
    policy.name = data.name.strip()
    policy.description = data.description or ""
    policy.order = data.order
    policy.active = bool(data.active)
    policy.targets = targets
    policy.calendar = data.calendar
    policy.pause_statuses = list(dict.fromkeys(data.pause_statuses))
    policy.warning_thresholds = sorted(set(data.warning_thresholds))
    policy.updated_at = timezone.now()
    policy.save()
    policy.categories.set(list(data.categories))
    policy.teams.set(list(data.teams))
    policy.escalations.all().delete()
    SlaEscalationStep.objects.bulk_create(
        SlaEscalationStep(
            policy=policy,
            metric=step.metric,
            at_percent=step.at_percent,
            action=step.action,
            team=step.team,
            position=step.position if step.position else index,
        )
        for index, step in enumerate(data.escalations)
    )
    after = _policy_snapshot(policy)
    audit_record(
        actor=actor,
        action="sla.policy_created" if creating else "sla.policy_updated",
        target=policy,
        payload={"policy": policy.pk, "before": before, "after": after},
    )
    if before != after and (policy.active or (before or {}).get("active")):
        policy_id = policy.pk
        _enqueue_recompute(policy_id=policy_id)
    return policy


@transaction.atomic
def sla_policy_delete(*, actor, policy: SlaPolicy) -> None:
    """Delete a policy. Its clocks keep their deadlines and events; their tickets are
    re-matched against the remaining policies after commit."""
    policy_require(actor, SLA_CONFIGURE, policy, {"object": "policy", "operation": "delete"})
    snapshot = _policy_snapshot(policy)
    ticket_ids = list(SlaClock.objects.filter(policy=policy, stopped_at__isnull=True).values_list("ticket_id", flat=True))
    audit_record(actor=actor, action="sla.policy_deleted", target=policy, payload={"policy": policy.pk, "before": snapshot})
    policy.delete()
    if ticket_ids:
        _enqueue_resync(ticket_ids)


def _enqueue_recompute(**kwargs) -> None:
    """Recompute after commit, in the tenant current now."""
    enqueue_on_commit("sla.recompute", **kwargs)


def _enqueue_resync(ticket_ids: list[int]) -> None:
    """Re-sync these tickets' clocks after commit, in the tenant current now."""
    enqueue_on_commit("sla.resync", ticket_ids=ticket_ids)


# --- Inputs from ids (API) ------------------------------------------------------------------------


def policy_input_from_data(data: dict, *, base: SlaPolicy | None = None) -> PolicyInput:
    """A PolicyInput from API-shaped data (ids for calendar, categories, teams and step
    teams). With `base`, missing keys keep the stored values (PATCH). Unknown ids are
    refused with field errors."""
    current = _policy_snapshot(base) if base is not None else {}
    merged = {**current, **data}
    errors: dict[str, list[str]] = {}

    def objects(model, ids, key, message):
        ids = list(dict.fromkeys(int(i) for i in ids or []))
        found = {o.pk: o for o in model.objects.filter(pk__in=ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            errors.setdefault(key, []).append(message % {"ids": ", ".join(map(str, missing))})
        return [found[i] for i in ids if i in found]

    calendar = None
    if merged.get("calendar") is not None:
        calendar = SlaCalendar.objects.filter(pk=merged["calendar"]).first()
        if calendar is None:
            errors.setdefault("calendar", []).append(gettext("Unknown calendar %(id)s.") % {"id": merged["calendar"]})
    categories = objects(Category, merged.get("categories"), "categories", gettext("Unknown categories: %(ids)s."))
    teams = objects(Team, merged.get("teams"), "teams", gettext("Unknown teams: %(ids)s."))
    step_teams = {
        t.pk: t for t in Team.objects.filter(pk__in=[s.get("team") for s in merged.get("escalations") or [] if s.get("team")])
    }
    steps = []
    for index, raw in enumerate(merged.get("escalations") or []):
        team = None
        if raw.get("team"):
            team = step_teams.get(int(raw["team"]))
            if team is None:
                errors.setdefault(f"escalations.{index}", []).append(gettext("Unknown team %(id)s.") % {"id": raw["team"]})
        steps.append(
            StepInput(
                at_percent=raw["at_percent"],
                action=raw["action"],
                metric=raw.get("metric") or StepMetric.ANY,
                team=team,
                position=index,
            )
        )
    if errors:
        raise _problem(errors, gettext("The policy is not valid"))
    return PolicyInput(
        name=merged.get("name", ""),
        description=merged.get("description", "") or "",
        order=merged.get("order", 100),
        active=merged.get("active", True),
        calendar=calendar,
        targets=merged.get("targets") or {},
        categories=categories,
        teams=teams,
        pause_statuses=list(merged.get("pause_statuses", ["pending"])),
        warning_thresholds=list(merged.get("warning_thresholds", [50, 75, 90])),
        escalations=steps,
    )
