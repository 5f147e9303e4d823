"""Test runs: real PostgreSQL and Redis, fast hashing, in-memory mail."""

import os

from .base import *  # noqa: F403
from .base import DATABASES, WARDEN_BASE_DOMAIN, env

# Tests keep their Redis data in database 15, away from development data.
REDIS_URL = env("WARDEN_TEST_REDIS_URL", default="redis://127.0.0.1:63799/15")

# One test database per pytest process, so that concurrent runs in one checkout
# (several developers' sessions, a benchmark) never drop each other's database.
DATABASES["default"]["TEST"] = {"NAME": env("WARDEN_TEST_DB", default=f"test_warden_{os.getpid()}")}

DEBUG = False
SECRET_KEY = "test-only-secret-key"
ALLOWED_HOSTS = [WARDEN_BASE_DOMAIN, f".{WARDEN_BASE_DOMAIN}", "testserver", "127.0.0.1"]
WARDEN_SECRETS_KEY = "dGVzdC1vbmx5LXdhcmRlbi1zZWNyZXRzLWtleS0zMmI="
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "KEY_PREFIX": "test",
    }
}
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:63799/14")
STORAGES = {
    "default": {"BACKEND": "apps.tenants.storage.RegionalTenantStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ACCOUNT_RATE_LIMITS = False
WARDEN_AUDIT_SIGNING_KEY = "test-only-audit-signing-key-0123456789abcdef"
WARDEN_AUDIT_KEY_ID = "test-k1"
WARDEN_RESIDENCY_ENFORCED = True
WARDEN_REGION = "eu"
CELERY_TASK_TENANT_CACHE_SECONDS = 0
# The live server in browser tests serves static files without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The browser tests' live server turns the requesters' comment cooldown off (its env): the
# seeded requesters reply in test after test, in whatever order pytest-xdist runs them, and
# a reply within 5 s of another was refused (tests/tickets proves the cooldown itself).
WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = env.int("WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS", default=5)
WARDEN_NOTIFICATIONS_POLL_SECONDS = 2  # the browser tests watch the bell change
# The seeded users are shared by the whole suite; rate-limit tests set their own rates.
WARDEN_API_RATES = {"user": None, "ip": None, "ip_user": None, "write": None}
# Connectors: no real DNS in tests (tests/fakes/dns.py answers, and refuses unknown
# names); loopback fakes are allowed per test (settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK).
WARDEN_CONNECTORS_RESOLVER = "tests.fakes.dns.resolve"
WARDEN_CONNECTORS_ALLOW_LOOPBACK = env.bool("WARDEN_CONNECTORS_ALLOW_LOOPBACK", default=False)  # on for a test's child process
