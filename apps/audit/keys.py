"""Checkpoint signing keys, from settings.

WARDEN_AUDIT_SIGNING_KEY / WARDEN_AUDIT_KEY_ID sign new checkpoints. Retired keys stay
verifiable through WARDEN_AUDIT_RETIRED_KEYS ({key_id: key}). Without a configured key
a fixed development key is used; `manage.py check --deploy` reports that as an error.
"""

from __future__ import annotations

from django.conf import settings

DEV_SIGNING_KEY = "warden-dev-audit-signing-key--not-a-secret"
DEFAULT_KEY_ID = "k1"


def signing_key() -> tuple[str, bytes]:
    """(key id, key bytes) for new checkpoints."""
    key = getattr(settings, "WARDEN_AUDIT_SIGNING_KEY", "") or DEV_SIGNING_KEY
    key_id = getattr(settings, "WARDEN_AUDIT_KEY_ID", "") or DEFAULT_KEY_ID
    return key_id, key.encode("utf-8") if isinstance(key, str) else bytes(key)


def verification_keys() -> dict[str, bytes]:
    """Every key id a checkpoint may legitimately be signed with."""
    keys: dict[str, bytes] = {}
    for key_id, key in (getattr(settings, "WARDEN_AUDIT_RETIRED_KEYS", None) or {}).items():
        keys[str(key_id)] = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    current_id, current = signing_key()
    keys[current_id] = current
    return keys


def using_dev_key() -> bool:
    return not getattr(settings, "WARDEN_AUDIT_SIGNING_KEY", "")
