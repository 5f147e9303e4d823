"""Secrets stored in the database (a Slack bot token, connector credentials): encrypted
with `cryptography`'s MultiFernet over WARDEN_SECRETS_KEY (comma-separated Fernet keys,
newest first: new secrets use the first, every listed key still decrypts, `rotate()`
re-encrypts with the first).

Secrets are write-only: they are never shown back (forms and APIs show whether one is
set), never logged, never put in an audit payload or an event.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):  # noqa: N818
    """No configured key decrypts the stored secret (the key was rotated away, or the
    value was damaged). The caller disables what needs it and tells an admin."""


def _keys() -> MultiFernet:
    raw = [key.strip() for key in (settings.WARDEN_SECRETS_KEY or "").split(",") if key.strip()]
    if not raw:
        raise ImproperlyConfigured("WARDEN_SECRETS_KEY is not set: stored secrets cannot be encrypted")
    try:
        return MultiFernet([Fernet(key) for key in raw])
    except ValueError as exc:
        raise ImproperlyConfigured("WARDEN_SECRETS_KEY holds a key that is not a Fernet key") from exc


def encrypt(secret: str) -> str:
    return _keys().encrypt(secret.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _keys().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable("no configured key decrypts this secret") from exc


def rotate(token: str) -> str:
    """The same secret, encrypted with the newest key."""
    try:
        return _keys().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable("no configured key decrypts this secret") from exc
