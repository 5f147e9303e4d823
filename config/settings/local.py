"""Development: the project-local servers started by `make services`."""

import os

from .base import *  # noqa: F403
from .base import WARDEN_BASE_DOMAIN, env

DEBUG = env.bool("DEBUG", default=True)
# The demo server's port (make demo: PORT, default 8000), so printed links work as they are.
WARDEN_PUBLIC_PORT = env("WARDEN_PUBLIC_PORT", default=env("PORT", default="8000"))
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-secret-key-do-not-use-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[WARDEN_BASE_DOMAIN, f".{WARDEN_BASE_DOMAIN}", "127.0.0.1"])
WARDEN_SECRETS_KEY = env("WARDEN_SECRETS_KEY", default="ZGV2LW9ubHktd2FyZGVuLXNlY3JldHMta2V5LTMyYiE=")
WARDEN_AUDIT_SIGNING_KEY = env("WARDEN_AUDIT_SIGNING_KEY", default="dev-only-audit-signing-key-0123456789abcdef")
# One local machine stands in for every regional deployment, so residency is enforced
# only when WARDEN_REGION is set explicitly (docs/decisions/0004-residency.md).
WARDEN_RESIDENCY_ENFORCED = env.bool("WARDEN_RESIDENCY_ENFORCED", default="WARDEN_REGION" in os.environ)
