"""Errors of the tickets domain (all ApplicationError, so they become problem details)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from apps.core.errors import ApplicationError


class CooldownActive(ApplicationError):
    """429: the same thing was done too recently; `retry_after` seconds to wait."""

    status = 429
    title = gettext_lazy("Too many requests")

    def __init__(self, message: str, *, retry_after: int, field: str | None = None):
        super().__init__(message, errors={field: [message]} if field else None)
        self.retry_after = max(1, int(retry_after))


class IntegrityFailure(ApplicationError):
    """500-class: stored bytes no longer match their recorded SHA-256. Never served."""

    status = 500
    title = gettext_lazy("Stored file failed its integrity check")
