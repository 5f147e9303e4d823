"""Authentication events into the audit chain (login, failed login, logout, MFA changes).

When an event cannot be appended (database trouble, a broken chain head), what happens
depends on whether the action can still be stopped (docs/audit.md, "When the audit log
cannot be written"):

* a sign-in is refused: `LoginNotAudited` (503) escapes Django's `login()`, and a 5xx
  response never saves the session, so the user is not signed in. No sign-in without
  its trace;
* a failed sign-in, a sign-out and an MFA change have already happened (allauth sends
  its MFA signals after the change has committed): they cannot be undone, so the event
  goes to the fallback instead: one ERROR line on the `warden.audit.fallback` logger
  holding the whole event as JSON, for the log pipeline to keep and an operator to
  replay. Never silently dropped.
"""

from __future__ import annotations

import json
import logging

from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.db import connection, transaction
from django.dispatch import receiver
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core import governance
from apps.core.errors import ApplicationError

logger = logging.getLogger(__name__)
fallback_logger = logging.getLogger("warden.audit.fallback")


class LoginNotAudited(ApplicationError):
    """The sign-in could not be recorded, so it does not happen."""

    status = 503
    title = gettext_lazy("Sign-in unavailable")


def _record(
    action: str, *, actor=None, actor_label: str | None = None, payload: dict | None = None, required: bool = False
) -> None:
    if connection.schema_name == "public":
        return  # platform sign-ins are not part of any tenant's chain
    try:
        # A savepoint of its own: a failed append must not poison a surrounding transaction.
        with transaction.atomic():
            governance.record(actor=actor, action=action, target=actor, payload=payload or {}, actor_label=actor_label)
    except Exception as exc:
        logger.exception("audit: could not record %s", action)
        fallback_logger.error(
            "audit event not recorded: %s",
            json.dumps(
                {
                    "tenant": connection.schema_name,
                    "action": action,
                    "actor_id": getattr(actor, "pk", None),
                    "actor_label": actor_label or getattr(actor, "email", None) or "anonymous",
                    "payload": payload or {},
                    "error": type(exc).__name__,
                },
                sort_keys=True,
                default=str,
            ),
        )
        if required:
            raise LoginNotAudited(
                _("Signing in is unavailable right now because it cannot be recorded. Please try again shortly.")
            ) from exc


def _client(request) -> dict:
    if request is None:
        return {}
    return {"ip": request.META.get("REMOTE_ADDR", ""), "user_agent": request.headers.get("User-Agent", "")[:200]}


@receiver(auth_signals.user_logged_in)
def on_login(sender, request, user, **kwargs) -> None:
    _record("auth.login", actor=user, payload=_client(request), required=True)


@receiver(auth_signals.user_logged_out)
def on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        _record("auth.logout", actor=user, payload=_client(request))


@receiver(auth_signals.user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    email = str(credentials.get("email") or credentials.get("username") or "")[:254]
    _record("auth.login_failed", actor_label=f"anonymous:{email}", payload={"email": email, **_client(request)})


def _authenticator(authenticator) -> dict:
    return {"type": authenticator.type, "authenticator_id": authenticator.pk}


@receiver(mfa_signals.authenticator_added)
def on_mfa_added(sender, request, user, authenticator, **kwargs) -> None:
    _record("auth.mfa_added", actor=user, payload=_authenticator(authenticator))


@receiver(mfa_signals.authenticator_removed)
def on_mfa_removed(sender, request, user, authenticator, **kwargs) -> None:
    _record("auth.mfa_removed", actor=user, payload=_authenticator(authenticator))


@receiver(mfa_signals.authenticator_reset)
def on_mfa_reset(sender, request, user, authenticator, **kwargs) -> None:
    _record("auth.mfa_reset", actor=user, payload=_authenticator(authenticator))
