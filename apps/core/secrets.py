"""Secrets stored in the database (a Slack bot token, connector credentials): encrypted
with `cryptography`'s MultiFernet over WARDEN_SECRETS_KEY (comma-separated Fernet keys,
newest first: new secrets use the first, every listed key still decrypts, `rotate()`
re-encrypts with the first).

Secrets are write-only: they are never shown back (forms and APIs show whether one is
set), never logged, never put in an audit payload or an event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


# --- Where secrets are stored (for `rotate_secrets`) ------------------------------------
# Apps that keep an encrypted column register it from their AppConfig.ready(); the
# rotation re-encrypts every registered column of every tenant with the newest key.


@dataclass(frozen=True)
class EncryptedField:
    model: str  # "app_label.ModelName"
    field: str
    # Called with the row when no configured key decrypts it (e.g. disable what needs it
    # and tell an admin); None: the rotation only counts it.
    on_unreadable: Callable[[Any], None] | None = None


_FIELDS: dict[tuple[str, str], EncryptedField] = {}


def register_field(model: str, field: str, *, on_unreadable: Callable[[Any], None] | None = None) -> EncryptedField:
    entry = EncryptedField(model=model, field=field, on_unreadable=on_unreadable)
    _FIELDS[(model.lower(), field)] = entry
    return entry


def registered_fields() -> list[EncryptedField]:
    return [_FIELDS[key] for key in sorted(_FIELDS)]
