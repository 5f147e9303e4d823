"""Development: the project-local servers started by `make services`."""

import os

from .base import *  # noqa: F403
from .base import BASE_DIR, WARDEN_BASE_DOMAIN, env

DEBUG = env.bool("DEBUG", default=True)
# The demo server's port (make demo: PORT, default 8000), so printed links work as they are.
WARDEN_PUBLIC_PORT = env("WARDEN_PUBLIC_PORT", default=env("PORT", default="8000"))
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-secret-key-do-not-use-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[WARDEN_BASE_DOMAIN, f".{WARDEN_BASE_DOMAIN}", "127.0.0.1"])
WARDEN_SECRETS_KEY = env("WARDEN_SECRETS_KEY", default="ZGV2LW9ubHktd2FyZGVuLXNlY3JldHMta2V5LTMyYiE=")
# Audit checkpoints and evidence packs: an explicit WARDEN_AUDIT_SIGNING_KEY wins (other text
# than an Ed25519 key is an HMAC key); without one, this install's own Ed25519 key, made once
# and kept in WARDEN_AUDIT_KEY_FILE (.run/, mode 0600), so packs verify with the public key.
if env("WARDEN_AUDIT_SIGNING_KEY", default=""):
    WARDEN_AUDIT_SIGNING_KEY = env("WARDEN_AUDIT_SIGNING_KEY")
else:
    from django.core.exceptions import ImproperlyConfigured

    from apps.audit import keys as _audit_keys

    try:
        WARDEN_AUDIT_SIGNING_KEY = _audit_keys.install_signing_key(
            BASE_DIR / (env("WARDEN_AUDIT_KEY_FILE", default="") or ".run/audit-signing-key")
        )
    except (OSError, _audit_keys.SigningKeyInvalid) as exc:
        raise ImproperlyConfigured(f"the local audit signing key: {exc}") from exc
    WARDEN_AUDIT_KEY_ID = env(
        "WARDEN_AUDIT_KEY_ID", default=f"local-{_audit_keys.ed25519_fingerprint(WARDEN_AUDIT_SIGNING_KEY)[:12]}"
    )
    if WARDEN_AUDIT_KEY_ID != "k1":
        # Installs from before the per-install key signed as k1 with this public HMAC key.
        WARDEN_AUDIT_RETIRED_KEYS = {"k1": "dev-only-audit-signing-key-0123456789abcdef"}
# Mail is kept on disk and read at the platform site's /mail/ page (apps.core.mail);
# EMAIL_BACKEND in the environment (SMTP) wins.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="apps.core.mail.CaptureBackend")
# `make demo` connects acme to a fake ServiceNow on 127.0.0.1 (scripts/demo.sh starts it):
# connectors may call loopback here, never in production (config/settings/production.py).
WARDEN_CONNECTORS_ALLOW_LOOPBACK = env.bool("WARDEN_CONNECTORS_ALLOW_LOOPBACK", default=True)
WARDEN_SERVICENOW_POLL_SECONDS = env.int("WARDEN_SERVICENOW_POLL_SECONDS", default=30)
WARDEN_MAIL_CAPTURE_DIR = env("WARDEN_MAIL_CAPTURE_DIR", default=str(BASE_DIR / ".run" / "mail"))
# One local machine stands in for every regional deployment, so residency is enforced
# only when WARDEN_REGION is set explicitly (docs/decisions/0004-residency.md).
WARDEN_RESIDENCY_ENFORCED = env.bool("WARDEN_RESIDENCY_ENFORCED", default="WARDEN_REGION" in os.environ)
