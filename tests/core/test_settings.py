"""Production settings refuse to start when something is missing or unsafe."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAFE = {
    "SECRET_KEY": "x" * 20 + "q7Lw9vT2mN4pR8sK1yH6jB3cF5dG0zXaE",
    "ALLOWED_HOSTS": "warden.example.com,.warden.example.com",
    "DATABASE_URL": "postgres://warden@127.0.0.1:54329/warden",
    "REDIS_URL": "redis://127.0.0.1:63799/0",
    "WARDEN_SECRETS_KEY": "a" * 44,
    "WARDEN_AUDIT_SIGNING_KEY": "b" * 40,
}


def _load(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SAFE and k != "DEBUG"}
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings.production")
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=clean, capture_output=True, text=True,
        timeout=60,
    )


def test_production_starts_with_safe_settings():
    result = _load(SAFE)
    assert result.returncode == 0, result.stderr


def test_production_refuses_missing_and_unsafe_settings_and_lists_them():
    result = _load({"DEBUG": "true", "SECRET_KEY": "dev-only-insecure-secret-key-do-not-use-in-production"})
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    for problem in ("DEBUG must be off", "SECRET_KEY is a default", "ALLOWED_HOSTS is not set",
                    "DATABASE_URL is not set", "REDIS_URL is not set", "WARDEN_SECRETS_KEY is not set",
                    "WARDEN_AUDIT_SIGNING_KEY is not set"):
        assert problem in message
