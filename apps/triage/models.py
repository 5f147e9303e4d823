"""Triage: the tenant's rules, its settings, and the proposals made for tickets with the
one decision each of them gets.

A proposal says how to route a ticket (`changes`: category, team, impact, urgency and a
work note), who proposed it (the rules or a language model, with its confidence and
rationale) and what the ticket looked like then (`before`, `ticket_updated_at`: a
decision on a ticket that changed since is stale). It waits for a person (or is
approved automatically, when the tenant allows it) and gets exactly one `Decision`.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.tickets.choices import Level, TicketSource

from .choices import Channel, Classifier, ProposalStatus, Verdict

CONFIDENCE = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))]


class TriageSettings(models.Model):
    """The tenant's triage settings (at most one row; `selectors.settings_get()` makes it)."""

    singleton = models.BooleanField(default=True, editable=False)
    enabled = models.BooleanField(_("propose a routing for new tickets"), default=True)
    confidence_floor = models.DecimalField(
        _("confidence floor"), max_digits=3, decimal_places=2, default=Decimal("0.70"), validators=CONFIDENCE,
        help_text=_("Below it a proposal is never approved automatically, and cannot be approved in bulk."))
    auto_approve_rules = models.BooleanField(
        _("approve rule proposals automatically"), default=False,
        help_text=_("Only at or above the threshold below, and only when the policy allows it without a person."))
    auto_approve_llm = models.BooleanField(_("approve language-model proposals automatically"), default=False)
    auto_approve_threshold = models.DecimalField(
        _("automatic approval threshold"), max_digits=3, decimal_places=2, default=Decimal("0.95"),
        validators=CONFIDENCE)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("triage settings")
        verbose_name_plural = _("triage settings")
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="triage_settings_single"),
            models.CheckConstraint(condition=models.Q(singleton=True), name="triage_settings_singleton_true"),
        ]

    def __str__(self) -> str:
        return str(_("Triage settings"))


class Rule(models.Model):
    """A tenant-edited rule: when a new ticket matches every condition set, propose the
    routing set. Rules are tried in `position` order; the first match proposes."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    position = models.PositiveIntegerField(_("order"), default=100, help_text=_("Lower numbers are tried first."))
    enabled = models.BooleanField(_("enabled"), default=True)
    # Conditions (all that are set must hold; a rule with none never matches).
    keywords = models.TextField(
        _("keywords"), blank=True,
        help_text=_("One per line or comma-separated; any of them, as a whole word, in the title or description."))
    pattern = models.CharField(_("regular expression"), max_length=300, blank=True,
                               help_text=_("Searched in the title and description, ignoring case."))
    source = models.CharField(_("source"), max_length=16, choices=TicketSource.choices, blank=True,
                              help_text=_("Only tickets from this source (empty: any)."))
    in_category = models.ForeignKey("tickets.Category", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("ticket in category"),
                                    help_text=_("Only tickets already in this category or one below it."))
    requester_domain = models.CharField(
        _("requester's organisation"), max_length=100, blank=True,
        help_text=_("Only tickets whose requester's email is at this domain, e.g. finance.example.com."))
    # What it proposes.
    set_category = models.ForeignKey("tickets.Category", on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("propose category"))
    set_team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                 verbose_name=_("propose team"))
    set_impact = models.PositiveSmallIntegerField(_("propose impact"), choices=Level.choices, null=True, blank=True)
    set_urgency = models.PositiveSmallIntegerField(_("propose urgency"), choices=Level.choices, null=True, blank=True)
    work_note = models.TextField(_("work note"), blank=True, max_length=2000,
                                 help_text=_("Added as an internal note (and a ServiceNow work note) when approved."))
    confidence = models.DecimalField(_("confidence"), max_digits=3, decimal_places=2, default=Decimal("0.80"),
                                     validators=CONFIDENCE)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("triage rule")
        verbose_name_plural = _("triage rules")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name


class Proposal(models.Model):
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="triage_proposals")
    classifier = models.CharField(_("classifier"), max_length=8, choices=Classifier.choices)
    rule = models.ForeignKey(Rule, on_delete=models.SET_NULL, null=True, blank=True, related_name="proposals")
    rule_name = models.CharField(_("rule"), max_length=100, blank=True)  # as it was named then
    model = models.CharField(_("model"), max_length=100, blank=True)  # provider:model, for a language model
    prompt_version = models.CharField(_("prompt template"), max_length=40, blank=True)
    prompt_hash = models.CharField(_("prompt template hash"), max_length=64, blank=True)
    confidence = models.DecimalField(_("confidence"), max_digits=3, decimal_places=2, validators=CONFIDENCE)
    rationale = models.TextField(_("rationale"), blank=True)
    changes = models.JSONField(_("proposed changes"), default=dict)  # {"category": id, "team": id, "impact": n, ...}
    before = models.JSONField(_("values before"), default=dict)
    ticket_updated_at = models.DateTimeField()  # the ticket as the proposal saw it
    version = models.PositiveIntegerField(_("version"), default=1)  # bumped by an edit before the decision
    status = models.CharField(_("status"), max_length=12, choices=ProposalStatus.choices,
                              default=ProposalStatus.PENDING, db_index=True)
    status_reason = models.CharField(_("why"), max_length=300, blank=True)
    writeback_status = models.CharField(_("write-back"), max_length=16, blank=True)
    writeback_detail = models.CharField(_("write-back detail"), max_length=300, blank=True)
    writeback_id = models.BigIntegerField(_("write-back record"), null=True, blank=True)  # the connector's, for undo
    created_at = models.DateTimeField(_("proposed"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("triage proposal")
        verbose_name_plural = _("triage proposals")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One open proposal per ticket: a new one supersedes the old in one transaction.
            models.UniqueConstraint(fields=["ticket"], condition=models.Q(status=ProposalStatus.PENDING),
                                    name="triage_one_pending_per_ticket"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} ({self.get_classifier_display()}, {self.get_status_display()})"


class Decision(models.Model):
    """The one decision on a proposal: the first wins (the primary key is the proposal)."""

    proposal = models.OneToOneField(Proposal, on_delete=models.CASCADE, primary_key=True, related_name="decision")
    verdict = models.CharField(_("decision"), max_length=8, choices=Verdict.choices)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("decided by"))
    decided_by_label = models.CharField(_("decided by"), max_length=200)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    version = models.PositiveIntegerField(_("version decided on"))
    changes = models.JSONField(_("approved changes"), default=dict)
    policy_version = models.PositiveIntegerField(_("policy version"), null=True, blank=True)
    created_at = models.DateTimeField(_("decided"), default=timezone.now)

    class Meta:
        verbose_name = _("triage decision")
        verbose_name_plural = _("triage decisions")

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} ({self.decided_by_label})"
from .models_llm import LlmProvider, LlmUsage  # noqa: E402, F401 - the language model (docs/triage-llm.md)
from .models_runs import Run, RunState, RunStep, StepState  # noqa: E402, F401 - workflow runs
from .models_slack import SlackCard, SlackInteraction  # noqa: E402,F401 - Slack approvals (apps/triage/slack)
