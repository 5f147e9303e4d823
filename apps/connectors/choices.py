"""Vocabularies of the connectors app. Pure."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuthScheme(models.TextChoices):
    NONE = "none", _("none")
    BEARER = "bearer", _("bearer token")
    BASIC = "basic", _("user name and password")


class Status(models.TextChoices):
    ACTIVE = "active", _("active")
    DISABLED = "disabled", _("disabled")


class Health(models.TextChoices):
    UNKNOWN = "unknown", _("not checked yet")
    OK = "ok", _("working")
    FAILING = "failing", _("failing")


class Outcome(models.TextChoices):
    OK = "ok", _("answered")
    HTTP_ERROR = "http_error", _("error answer")
    NETWORK = "network", _("network error or timeout")
    REFUSED = "refused", _("refused by the URL guard")
    REDIRECT = "redirect", _("redirect not followed")
    CIRCUIT_OPEN = "circuit_open", _("circuit open")
    DRY_RUN = "dry_run", _("dry run (not sent)")
    CAP = "cap", _("daily write cap reached")
    DISABLED = "disabled", _("connector disabled")


class DeadLetterStatus(models.TextChoices):
    OPEN = "open", _("waiting")
    SUCCEEDED = "succeeded", _("sent on retry")
    DISCARDED = "discarded", _("discarded")


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
