"""Application errors: raised by services, turned into problem details at the edges."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class ApplicationError(Exception):
    """Bad input or a broken business rule: the caller can fix it (HTTP 400)."""

    status = 400
    title = _("Invalid request")

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if status is not None:
            self.status = status


class NotFound(ApplicationError):
    status = 404
    title = _("Not found")


class Conflict(ApplicationError):
    status = 409
    title = _("Conflict")


class PermissionDenied(ApplicationError):
    status = 403
    title = _("Forbidden")
