"""Production settings refuse to start when something is missing or unsafe, and say so
in one readable line (no traceback) through manage.py."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SAFE = {
    "SECRET_KEY": "x" * 20 + "q7Lw9vT2mN4pR8sK1yH6jB3cF5dG0zXaE",
    "ALLOWED_HOSTS": "warden.example.com,.warden.example.com",
    "DATABASE_URL": "postgres://warden@127.0.0.1:54329/warden",
    "REDIS_URL": "redis://127.0.0.1:63799/0",
    "WARDEN_SECRETS_KEY": "a" * 44,
    "WARDEN_AUDIT_SIGNING_KEY": "b" * 40,
    "WARDEN_REGION": "eu",
}


def _env(env: dict) -> dict:
    # Nothing inherited that production settings read: only what the test gives.
    clean = {
        k: v for k, v in os.environ.items()
        if k not in SAFE and k != "DEBUG" and not k.startswith(("WARDEN_", "DJANGO_"))
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings.production")
    return clean


def _load(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=_env(env), capture_output=True,
        text=True, timeout=60,
    )


def _manage_check(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=_env(env), capture_output=True, text=True,
        timeout=60,
    )


def test_production_starts_with_safe_settings():
    result = _load(SAFE)
    assert result.returncode == 0, result.stderr


def test_production_refuses_missing_and_unsafe_settings_and_lists_them():
    result = _load({"DEBUG": "true", "SECRET_KEY": "dev-only-insecure-secret-key-do-not-use-in-production",
                    "WARDEN_RESIDENCY_ENFORCED": "false"})
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    for problem in ("DEBUG must be off", "SECRET_KEY is a default", "ALLOWED_HOSTS is not set",
                    "DATABASE_URL is not set", "REDIS_URL is not set", "WARDEN_SECRETS_KEY is not set",
                    "WARDEN_AUDIT_SIGNING_KEY is not set", "WARDEN_REGION is not set",
                    "WARDEN_RESIDENCY_ENFORCED must be on"):
        assert problem in message


def test_missing_secret_key_is_one_clean_line_from_manage_py():
    result = _manage_check({k: v for k, v in SAFE.items() if k != "SECRET_KEY"})
    assert result.returncode == 78, result.stderr
    assert result.stdout == ""
    assert result.stderr == "manage.py: error: Warden refuses to start in production: SECRET_KEY is not set.\n"


def test_production_refuses_residency_off_and_a_missing_or_unknown_region():
    off = _manage_check({**SAFE, "WARDEN_RESIDENCY_ENFORCED": "false"})
    assert off.returncode == 78
    assert "WARDEN_RESIDENCY_ENFORCED must be on" in off.stderr
    missing = _manage_check({k: v for k, v in SAFE.items() if k != "WARDEN_REGION"})
    assert missing.returncode == 78
    assert "WARDEN_REGION is not set (eu or us)" in missing.stderr
    mars = _manage_check({**SAFE, "WARDEN_REGION": "mars"})
    assert "WARDEN_REGION must be one of eu, us" in mars.stderr
    for result in (off, missing, mars):
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr


def _dockerfile_collectstatic() -> str:
    """The Dockerfile's collectstatic step: its build-only variables and the command."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    run = next(line for line in text.splitlines() if line.startswith("RUN") and "collectstatic" in line)
    step = run.split("RUN", 1)[1].split("&&")[0].strip()
    assert "config.settings.local" not in step
    assert "|| true" not in run
    return step


@pytest.mark.slow
def test_dockerfile_collectstatic_step_builds_the_manifest_production_serves_from(tmp_path):
    step = _dockerfile_collectstatic()
    env = _env({"STATIC_ROOT": str(tmp_path), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    env.pop("DJANGO_SETTINGS_MODULE")  # the image sets it (ENV): production
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    built = subprocess.run(["bash", "-c", step], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # noqa: S603, S607
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "staticfiles.json").exists()
    # At run time {% static %} resolves through that manifest to hashed, compressed files.
    resolve = (
        "import django; django.setup(); from django.templatetags.static import static; "
        "print(static('admin/css/base.css'))"
    )
    served = subprocess.run(  # noqa: S603
        [sys.executable, "-c", resolve], cwd=ROOT, env=_env({**SAFE, "STATIC_ROOT": str(tmp_path)}),
        capture_output=True, text=True, timeout=60,
    )
    assert served.returncode == 0, served.stderr
    url = served.stdout.strip()
    assert re.fullmatch(r"/static/admin/css/base\.[0-9a-f]{12}\.css", url), url
    assert (tmp_path / url.removeprefix("/static/")).exists()
    assert (tmp_path / (url.removeprefix("/static/") + ".gz")).exists()


def test_compose_file_parses_and_uses_only_documented_variables():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "clamav", "migrate", "web", "worker", "beat"} <= services.keys()
    documented = _env_example()
    for name in ("migrate", "web", "worker", "beat"):
        service = services[name]
        assert service["build"] == "."
        assert service["env_file"] == [".env"]
        assert set(service["environment"]) <= documented, set(service["environment"]) - documented
        assert service["environment"]["WARDEN_CLAMD_HOST"] == "clamav"
    assert services["web"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".run", "test-artifacts", "bench/results", "**/__pycache__"} <= set(ignored)


def _env_example() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z][A-Z0-9_]*=", line)}


# Read by code but not configuration of Warden itself.
NOT_SETTINGS = {
    "USER",  # operator_label()'s fallback when getpass cannot tell
    "SLA_BENCH_DB", "GOV_BENCH_DB",  # benchmark scripts (bench/README.md)
    "PROMETHEUS_MULTIPROC_DIR",  # prometheus_client's own; the worker sets it for its pool (docs/operations.md)
}


def test_env_example_documents_every_variable_settings_and_scripts_read():
    python = re.compile(r"""(?:env(?:\.\w+)?\(\s*|os\.environ(?:\.get)?[\[(]\s*|getenv\(\s*)["']([A-Z][A-Z0-9_]+)["']""")
    shell = re.compile(r"\$\{?(WARDEN_[A-Z0-9_]+|PORT|PYTEST_ARGS|DJANGO_SETTINGS_MODULE)\b")
    read: set[str] = set()
    for path in [*ROOT.glob("config/**/*.py"), *ROOT.glob("apps/**/*.py"), *ROOT.glob("bench/*.py")]:
        read |= set(python.findall(path.read_text()))
    for path in [*ROOT.glob("scripts/*"), ROOT / "Makefile", ROOT / ".ci" / "run"]:
        read |= set(shell.findall(path.read_text()))
    assert {"SECRET_KEY", "WARDEN_PG_PORT", "WARDEN_PUBLIC_PORT", "PYTEST_ARGS"} <= read  # the scan works
    missing = read - NOT_SETTINGS - _env_example()
    assert not missing, f"read but not in .env.example: {sorted(missing)}"


def _local_env(tmp_path) -> dict:
    """What local settings read, minus anything of this run's; the install's audit key in
    `tmp_path`, never in the checkout's .run/."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "DJANGO_")) and k != "PORT"}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "WARDEN_AUDIT_KEY_FILE": str(tmp_path / "run" / "audit-signing-key")}


@pytest.mark.slow
def test_local_settings_print_links_with_the_demo_port(tmp_path):
    read = "import django; django.setup(); from django.conf import settings; print(settings.WARDEN_PUBLIC_PORT)"
    env = _local_env(tmp_path)
    for extra, expected in (({}, "8000"), ({"PORT": "8123"}, "8123"), ({"PORT": "8123", "WARDEN_PUBLIC_PORT": ""}, "")):
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-c", read], cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == expected


@pytest.mark.slow
def test_local_settings_sign_with_an_ed25519_key_of_the_install_made_once(tmp_path):
    env = _local_env(tmp_path)
    key_file = Path(env["WARDEN_AUDIT_KEY_FILE"])
    read = ("import django; django.setup(); from apps.audit import keys; s = keys.signer(); "
            "print(s.key_id, s.algorithm, s.public_key.fingerprint if s.public_key else '-', keys.using_dev_key())")

    def signer(extra=None) -> list[str]:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-c", read], cwd=ROOT, env={**env, **(extra or {})}, capture_output=True, text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    key_id, algorithm, fingerprint, dev = signer()
    assert (algorithm, dev) == ("ed25519", "False")
    assert key_id == f"local-{fingerprint[:12]}"
    assert key_file.stat().st_mode & 0o777 == 0o600
    text = key_file.read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----")
    assert signer() == [key_id, algorithm, fingerprint, dev]  # reused, not made again
    assert key_file.read_text() == text
    # An explicit key wins; other text than an Ed25519 key is an HMAC key, by choice.
    hmac_key = {"WARDEN_AUDIT_SIGNING_KEY": "an-explicit-hmac-key-of-this-install-0123456789", "WARDEN_AUDIT_KEY_ID": "h1"}
    assert signer(hmac_key) == ["h1", "hmac-sha256", "-", "False"]
    # A damaged key file is one line from manage.py (exit 78), and is left as it is.
    key_file.write_text("garbage\n")
    check = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert check.returncode == 78, check.stderr
    assert check.stderr.count("\n") == 1
    assert "Traceback" not in check.stderr
    assert "does not hold a usable Ed25519 key" in check.stderr
    assert key_file.read_text() == "garbage\n"
