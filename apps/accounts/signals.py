"""Authentication events into the audit chain (login, failed login, logout, MFA changes)."""

from __future__ import annotations

import logging

from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.db import connection
from django.dispatch import receiver

logger = logging.getLogger(__name__)


def _record(action: str, *, actor=None, actor_label: str | None = None, payload: dict | None = None) -> None:
    if connection.schema_name == "public":
        return  # platform sign-ins are not part of any tenant's chain
    try:
        from apps.audit.services import audit_record

        audit_record(actor=actor, action=action, target=actor, payload=payload or {}, actor_label=actor_label)
    except Exception:  # noqa: BLE001 - never break sign-in because auditing failed; say so loudly
        logger.exception("audit: could not record %s", action)


def _client(request) -> dict:
    if request is None:
        return {}
    return {"ip": request.META.get("REMOTE_ADDR", ""), "user_agent": request.headers.get("User-Agent", "")[:200]}


@receiver(auth_signals.user_logged_in)
def on_login(sender, request, user, **kwargs) -> None:
    _record("auth.login", actor=user, payload=_client(request))


@receiver(auth_signals.user_logged_out)
def on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        _record("auth.logout", actor=user, payload=_client(request))


@receiver(auth_signals.user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    email = str(credentials.get("email") or credentials.get("username") or "")[:254]
    _record("auth.login_failed", actor_label=f"anonymous:{email}", payload={"email": email, **_client(request)})


@receiver(mfa_signals.authenticator_added)
def on_mfa_added(sender, request, user, authenticator, **kwargs) -> None:
    _record("auth.mfa_added", actor=user, payload={"type": authenticator.type})


@receiver(mfa_signals.authenticator_removed)
def on_mfa_removed(sender, request, user, authenticator, **kwargs) -> None:
    _record("auth.mfa_removed", actor=user, payload={"type": authenticator.type})


@receiver(mfa_signals.authenticator_reset)
def on_mfa_reset(sender, request, user, authenticator, **kwargs) -> None:
    _record("auth.mfa_reset", actor=user, payload={"type": authenticator.type})
