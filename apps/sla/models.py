"""SLA policies, calendars, clocks and the events the sweep emits.

Data and invariants only: every write goes through `services.py`; the business-time
arithmetic is `calendar.py`.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower
from django.utils.timezone import now as _now
from django.utils.translation import gettext_lazy as _

from .choices import (
    DEFAULT_PAUSE_STATUSES,
    DEFAULT_WARNING_THRESHOLDS,
    ClockState,
    EscalationAction,
    EscalationOutcome,
    EventKind,
    Metric,
    StepMetric,
    Weekday,
)


def _default_pause_statuses() -> list[str]:
    return list(DEFAULT_PAUSE_STATUSES)


def _default_thresholds() -> list[int]:
    return list(DEFAULT_WARNING_THRESHOLDS)


class SlaCalendar(models.Model):
    """When SLA clocks run: weekly shifts in a time zone minus holidays, or 24x7."""

    name = models.CharField(_("name"), max_length=100)
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC", help_text=_("An IANA name, e.g. Europe/Warsaw."))
    always_open = models.BooleanField(
        _("24x7"), default=False, help_text=_("Clocks run all the time; hours and holidays are ignored.")
    )
    holiday_country = models.CharField(
        _("holidays of country"), max_length=8, blank=True, help_text=_("ISO code such as PL or US; empty for none.")
    )
    holiday_subdivision = models.CharField(
        _("subdivision"), max_length=16, blank=True, help_text=_("Optional, e.g. NY for the state of New York.")
    )
    created_at = models.DateTimeField(_("created"), default=_now)
    updated_at = models.DateTimeField(_("updated"), default=_now)

    class Meta:
        verbose_name = _("SLA calendar")
        verbose_name_plural = _("SLA calendars")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="sla_calendar_unique_name",
                violation_error_message=_("A calendar with this name already exists."),
            )
        ]

    def __str__(self) -> str:
        return self.name


class SlaCalendarShift(models.Model):
    """Business hours on one weekday; `end <= start` means the shift ends the next day."""

    calendar = models.ForeignKey(SlaCalendar, on_delete=models.CASCADE, related_name="shifts")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("until"), help_text=_("Earlier than or equal to the start: the shift ends the next day."))

    class Meta:
        verbose_name = _("business hours")
        verbose_name_plural = _("business hours")
        ordering = ["weekday", "start", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(weekday__gte=0, weekday__lte=6), name="sla_shift_weekday_0_6"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class SlaCalendarHoliday(models.Model):
    """A custom day off (on top of the country's public holidays)."""

    calendar = models.ForeignKey(SlaCalendar, on_delete=models.CASCADE, related_name="extra_holidays")
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("custom holiday")
        verbose_name_plural = _("custom holidays")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["calendar", "date"],
                name="sla_holiday_unique_date",
                violation_error_message=_("This date is already listed."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}".strip()


class SlaPolicy(models.Model):
    """Targets for the tickets it matches. Active policies are tried in `order` (lowest
    first); the first that matches a ticket applies. Inactive policies are drafts."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    order = models.PositiveIntegerField(_("order"), default=100, help_text=_("Lower numbers are tried first."))
    active = models.BooleanField(_("active"), default=True, help_text=_("Inactive policies are drafts: they apply to no ticket."))
    # {"P1": {"first_response": minutes | null, "resolution": minutes | null}, ...}; a
    # policy matches only the priorities it has targets for.
    targets = models.JSONField(_("targets (minutes of business time)"), default=dict)
    categories = models.ManyToManyField(
        "tickets.Category",
        verbose_name=_("categories"),
        blank=True,
        related_name="+",
        help_text=_("Only tickets in these categories or below them; none = any category."),
    )
    teams = models.ManyToManyField(
        "accounts.Team",
        verbose_name=_("teams"),
        blank=True,
        related_name="+",
        help_text=_("Only tickets of these teams; none = any team."),
    )
    calendar = models.ForeignKey(SlaCalendar, verbose_name=_("calendar"), on_delete=models.PROTECT, related_name="policies")
    pause_statuses = ArrayField(
        models.CharField(max_length=16), verbose_name=_("pause on statuses"), default=_default_pause_statuses, blank=True
    )
    warning_thresholds = ArrayField(
        models.PositiveSmallIntegerField(), verbose_name=_("warnings at (% of target)"), default=_default_thresholds, blank=True
    )
    created_at = models.DateTimeField(_("created"), default=_now)
    updated_at = models.DateTimeField(_("updated"), default=_now)

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["order", "pk"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="sla_policy_unique_name", violation_error_message=_("A policy with this name already exists.")
            )
        ]

    def __str__(self) -> str:
        return self.name

    def target_minutes(self, priority: str, metric: str) -> int | None:
        value = (self.targets or {}).get(priority, {}).get(metric)
        return int(value) if value else None


class SlaEscalationStep(models.Model):
    """What happens when a clock of this policy crosses a warning threshold or breaches."""

    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="escalations")
    metric = models.CharField(_("metric"), max_length=16, choices=StepMetric.choices, default=StepMetric.ANY)
    at_percent = models.PositiveSmallIntegerField(
        _("at (% of target)"), help_text=_("A warning threshold, or 100 for the breach.")
    )
    action = models.CharField(_("action"), max_length=24, choices=EscalationAction.choices)
    team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("For 'reassign to a team' only."),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("escalation step")
        verbose_name_plural = _("escalation steps")
        ordering = ["at_percent", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.at_percent}% {self.get_metric_display()}: {self.get_action_display()}"


class SlaClock(models.Model):
    """One metric of one ticket. Deadlines are derived from `started_at`, the target, the
    calendar and the recorded pauses, so they can always be recomputed exactly.

    `thresholds`/`marks` are parallel arrays: the instant each threshold (percent of the
    target, 100 = breach) is or was crossed, null while a pause keeps it out of reach.
    `next_mark_at` is the earliest mark the sweep may still have to emit.
    """

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_clocks")
    metric = models.CharField(_("metric"), max_length=16, choices=Metric.choices)
    policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="clocks")
    calendar = models.ForeignKey(SlaCalendar, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target_seconds = models.PositiveIntegerField(_("target (business seconds)"))
    state = models.CharField(_("state"), max_length=16, choices=ClockState.choices, default=ClockState.RUNNING)
    started_at = models.DateTimeField(_("started"))
    paused_at = models.DateTimeField(_("paused since"), null=True, blank=True)
    # Completed pauses: [[start ISO, end ISO], ...] in order.
    pauses = models.JSONField(_("pauses"), default=list, blank=True)
    paused_seconds = models.BigIntegerField(_("paused business seconds"), default=0)
    # [[status, since ISO], ...]: the ticket's statuses while the clock existed (simulator).
    history = models.JSONField(_("status history"), default=list, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    risk_at = models.DateTimeField(_("at risk from"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)
    met_at = models.DateTimeField(_("met"), null=True, blank=True)
    breached_at = models.DateTimeField(_("breached"), null=True, blank=True)
    thresholds = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)
    marks = ArrayField(models.DateTimeField(null=True), default=list, blank=True)
    next_mark_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=_now)

    class Meta:
        verbose_name = _("SLA clock")
        verbose_name_plural = _("SLA clocks")
        ordering = ["ticket_id", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "metric"], name="sla_clock_one_per_metric"),
        ]
        indexes = [
            models.Index(fields=["next_mark_at"], name="sla_clock_next_mark", condition=models.Q(next_mark_at__isnull=False)),
            models.Index(fields=["policy", "state"], name="sla_clock_policy_state"),
            models.Index(fields=["due_at"], name="sla_clock_open_due", condition=models.Q(stopped_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} of ticket {self.ticket_id}"


class SlaEvent(models.Model):
    """A warning or a breach, emitted once per clock and threshold by the sweep.

    `crossed_at` is when the threshold was crossed (from the stored deadline), not when
    the sweep noticed: after an outage the sweep catches up with true times.
    """

    clock = models.ForeignKey(SlaClock, on_delete=models.CASCADE, related_name="events")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_events")
    metric = models.CharField(_("metric"), max_length=16, choices=Metric.choices)
    threshold = models.PositiveSmallIntegerField(_("threshold (%)"))
    kind = models.CharField(_("kind"), max_length=8, choices=EventKind.choices)
    crossed_at = models.DateTimeField(_("crossed"))
    emitted_at = models.DateTimeField(_("emitted"))
    processed_at = models.DateTimeField(_("notified and escalated"), null=True, blank=True)

    class Meta:
        verbose_name = _("SLA event")
        verbose_name_plural = _("SLA events")
        ordering = ["-crossed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["clock", "threshold"], name="sla_event_once_per_threshold"),
        ]
        indexes = [
            models.Index(fields=["emitted_at"], name="sla_event_unprocessed", condition=models.Q(processed_at__isnull=True)),
            models.Index(fields=["ticket", "-crossed_at"], name="sla_event_ticket_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.threshold}% {self.get_metric_display()} of ticket {self.ticket_id}"


class SlaEscalation(models.Model):
    """One escalation step run for one event (once: unique per event and step)."""

    event = models.ForeignKey(SlaEvent, on_delete=models.CASCADE, related_name="escalations")
    step = models.ForeignKey(SlaEscalationStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    action = models.CharField(_("action"), max_length=24, choices=EscalationAction.choices)
    outcome = models.CharField(_("outcome"), max_length=8, choices=EscalationOutcome.choices)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), default=_now)

    class Meta:
        verbose_name = _("SLA escalation")
        verbose_name_plural = _("SLA escalations")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["event", "step"], name="sla_escalation_once_per_step"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.get_outcome_display()}"
