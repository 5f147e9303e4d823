"""Workflow runs: one run of a YAML template (`workflows/`) for one ticket, and its steps.

A run records which template (name, version, hash of its text) it follows, where it is
(`state`, the step it is at), who owns it (an operator or a team lead who answers for a
stuck run) and what it learnt (`context`: classified, proposal id, approved, ...). A step
records its state, attempts, timings, output and last error, so that a run resumes after
a crash where it stopped, and each step is done once (every action is idempotent).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RunState(models.TextChoices):
    RUNNING = "running", _("Running")
    WAITING = "waiting", _("Waiting for a decision")
    NEEDS_PERSON = "needs_person", _("Needs a person")
    ESCALATED = "escalated", _("Escalated")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CLOSED = "closed", _("Closed by an operator")


OPEN_RUN_STATES = (RunState.RUNNING, RunState.WAITING, RunState.NEEDS_PERSON, RunState.ESCALATED, RunState.FAILED)


class StepState(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    WAITING = "waiting", _("Waiting")
    DONE = "done", _("Done")
    SKIPPED = "skipped", _("Skipped")
    FAILED = "failed", _("Failed")


class Run(models.Model):
    template = models.CharField(_("template"), max_length=60)
    template_version = models.PositiveIntegerField(_("template version"))
    template_hash = models.CharField(_("template hash"), max_length=64)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="triage_runs")
    proposal = models.ForeignKey("triage.Proposal", on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="runs")
    state = models.CharField(_("state"), max_length=16, choices=RunState.choices, default=RunState.RUNNING,
                             db_index=True)
    step = models.CharField(_("at step"), max_length=40, blank=True)
    state_reason = models.CharField(_("why"), max_length=300, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("owner"))
    context = models.JSONField(_("what it learnt"), default=dict)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("workflow run")
        verbose_name_plural = _("workflow runs")
        ordering = ["-started_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["ticket", "template"], name="triage_run_once_per_ticket")]

    def __str__(self) -> str:
        return f"{self.template} #{self.pk} ({self.get_state_display()})"


class RunStep(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(_("step"), max_length=40)
    action = models.CharField(_("action"), max_length=40)
    state = models.CharField(_("state"), max_length=10, choices=StepState.choices, default=StepState.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    output = models.JSONField(_("output"), default=dict)
    error = models.CharField(_("last error"), max_length=300, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("workflow step")
        verbose_name_plural = _("workflow steps")
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="triage_step_name_once_per_run")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_state_display()})"
