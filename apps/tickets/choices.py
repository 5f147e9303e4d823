"""Constants of the tickets domain (TextChoices/IntegerChoices). No ORM queries here."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from . import workflow


class TicketStatus(models.TextChoices):
    """The statuses of `workflow.py` (the one vocabulary), with their labels."""

    NEW = workflow.NEW, _("New")
    OPEN = workflow.OPEN, _("Open")
    PENDING = workflow.PENDING, _("Pending (waiting on requester)")
    RESOLVED = workflow.RESOLVED, _("Resolved")
    CLOSED = workflow.CLOSED, _("Closed")
    CANCELLED = workflow.CANCELLED, _("Cancelled")


class Level(models.IntegerChoices):
    """Impact and urgency: 1 is the most severe."""

    HIGH = 1, _("High")
    MEDIUM = 2, _("Medium")
    LOW = 3, _("Low")


# The levels as an urgency ("pilność" is feminine in Polish: "Wysoka", where an impact is
# "Wysoki"); the same English words.
URGENCY_CHOICES = [
    (Level.HIGH.value, pgettext_lazy("urgency", "High")),
    (Level.MEDIUM.value, pgettext_lazy("urgency", "Medium")),
    (Level.LOW.value, pgettext_lazy("urgency", "Low")),
]


class Priority(models.TextChoices):
    P1 = "P1", _("P1 - Critical")
    P2 = "P2", _("P2 - High")
    P3 = "P3", _("P3 - Moderate")
    P4 = "P4", _("P4 - Low")


class TicketSource(models.TextChoices):
    PORTAL = "portal", _("Portal")
    API = "api", _("API")
    EMAIL = "email", _("Email")
    SERVICENOW = "servicenow", _("ServiceNow")


class ResolutionCode(models.TextChoices):
    FIXED = "fixed", _("Fixed")
    WORKAROUND = "workaround", _("Workaround provided")
    ANSWERED = "answered", _("Question answered")
    DUPLICATE = "duplicate", _("Duplicate")
    NOT_REPRODUCIBLE = "not_reproducible", _("Could not reproduce")
    WONT_FIX = "wont_fix", _("Will not fix")
    USER_ERROR = "user_error", _("User error / training")


# How an error message lists the codes (the API's values): the code itself in English,
# the code with its label in other languages ("fixed (Naprawiono)").
RESOLUTION_CODE_IN_LIST = {
    ResolutionCode.FIXED: pgettext_lazy("resolution code in a list", "fixed"),
    ResolutionCode.WORKAROUND: pgettext_lazy("resolution code in a list", "workaround"),
    ResolutionCode.ANSWERED: pgettext_lazy("resolution code in a list", "answered"),
    ResolutionCode.DUPLICATE: pgettext_lazy("resolution code in a list", "duplicate"),
    ResolutionCode.NOT_REPRODUCIBLE: pgettext_lazy("resolution code in a list", "not_reproducible"),
    ResolutionCode.WONT_FIX: pgettext_lazy("resolution code in a list", "wont_fix"),
    ResolutionCode.USER_ERROR: pgettext_lazy("resolution code in a list", "user_error"),
}


class Visibility(models.TextChoices):
    PUBLIC = "public", _("Public")
    INTERNAL = "internal", _("Internal (agents only)")


class ScanStatus(models.TextChoices):
    CLEAN = "clean", _("Clean")
    QUARANTINED = "quarantined", _("Quarantined (never downloadable)")


class ResolvedReply(models.TextChoices):
    """What a requester's public reply on a resolved ticket does (help-desk settings)."""

    REOPEN = "reopen", _("Reopen the ticket")
    FOLLOW_UP = "follow_up", _("Close it and open a linked follow-up ticket")
