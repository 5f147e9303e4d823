"""Choices of the triage app. Pure Python."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Classifier(models.TextChoices):
    RULES = "rules", _("Rules")
    LLM = "llm", _("Language model")


class ProposalStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPLIED = "applied", _("Approved and applied")
    REJECTED = "rejected", _("Rejected")
    FAILED = "failed", _("Approved, not applied")
    SUPERSEDED = "superseded", _("Superseded")
    # A classifier was asked and gave no usable answer (a model timed out, answered
    # nonsense, the monthly cap is reached, ...): a person routes the ticket; `status_reason` says why.
    UNCLASSIFIED = "unclassified", _("Needs a person: no proposal")


class Verdict(models.TextChoices):
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")


class Channel(models.TextChoices):
    WEB = "web", _("Desk")
    API = "api", _("API")
    SLACK = "slack", _("Slack")
    AUTO = "auto", _("Automatic")


# The fields a proposal may change on a ticket, in the order they are shown.
FIELDS = ("category", "team", "impact", "urgency", "work_note")
