"""Constants of the SLA domain. No ORM queries here."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.tickets import workflow

BREACH = 100  # the threshold (percent of the target) that is the breach itself


class Metric(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    RESOLUTION = "resolution", _("Resolution")


class ClockState(models.TextChoices):
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    MET = "met", _("Met")
    BREACHED = "breached", _("Breached")
    CANCELLED = "cancelled", _("Cancelled (no SLA applies)")


OPEN_STATES = (ClockState.RUNNING, ClockState.PAUSED)


class EventKind(models.TextChoices):
    WARNING = "warning", _("Warning")
    BREACH = "breach", _("Breach")


class StepMetric(models.TextChoices):
    ANY = "any", _("Any metric")
    FIRST_RESPONSE = "first_response", _("First response")
    RESOLUTION = "resolution", _("Resolution")


class EscalationAction(models.TextChoices):
    NOTIFY_ASSIGNEE = "notify_assignee", _("Notify the assignee")
    NOTIFY_TEAM_LEAD = "notify_team_lead", _("Notify the team lead")
    REASSIGN_TEAM = "reassign_team", _("Reassign to a team")
    RAISE_PRIORITY = "raise_priority", _("Raise the priority one level")


class EscalationOutcome(models.TextChoices):
    DONE = "done", _("Done")
    SKIPPED = "skipped", _("Skipped (nothing to do)")
    DENIED = "denied", _("Denied by policy")
    FAILED = "failed", _("Failed")


class Badge(models.TextChoices):
    """What the agent UI shows for a ticket's SLA."""

    ON_TRACK = "on_track", _("On track")
    AT_RISK = "at_risk", _("At risk")
    BREACHED = "breached", _("Breached")
    PAUSED = "paused", _("Paused")
    MET = "met", _("Met")
    NONE = "none", _("No SLA")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


PRIORITIES = ("P1", "P2", "P3", "P4")
# The status vocabulary is the tickets workflow's (apps/tickets/workflow.py). Clocks run
# in the active statuses; a policy may pause in any of them (the others stop a clock).
ACTIVE_STATUSES = workflow.ACTIVE
PAUSABLE_STATUSES = tuple(status for status in workflow.STATUSES if status in workflow.ACTIVE)
DEFAULT_PAUSE_STATUSES = [workflow.PENDING]
DEFAULT_WARNING_THRESHOLDS = [50, 75, 90]
