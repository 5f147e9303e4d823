"""Production: everything from the environment; refuses to start when unsafe."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=False)
# No silent defaults for where this deployment is and whether it enforces residency:
# a forgotten WARDEN_REGION must not quietly make a US deployment serve as "eu".
WARDEN_REGION = env("WARDEN_REGION", default="")
WARDEN_RESIDENCY_ENFORCED = env.bool("WARDEN_RESIDENCY_ENFORCED", default=True)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
LOG_FORMAT = "json"
LOGGING["handlers"]["console"]["formatter"] = "json"  # noqa: F405

SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)  # noqa: F405
STORAGES["staticfiles"]["BACKEND"] = "whitenoise.storage.CompressedManifestStaticFilesStorage"  # noqa: F405
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")

_INSECURE_MARKERS = ("insecure", "dev-only", "test-only", "change-me")


def _problems() -> list[str]:
    problems = []
    if DEBUG:
        problems.append("DEBUG must be off")
    if not SECRET_KEY:
        problems.append("SECRET_KEY is not set")
    elif len(SECRET_KEY) < 50 or any(m in SECRET_KEY for m in _INSECURE_MARKERS):
        problems.append("SECRET_KEY is a default or too short (50+ random characters)")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS is not set")
    if not env("DATABASE_URL", default=""):
        problems.append("DATABASE_URL is not set")
    if not env("REDIS_URL", default=""):
        problems.append("REDIS_URL is not set")
    if not WARDEN_SECRETS_KEY:  # noqa: F405
        problems.append("WARDEN_SECRETS_KEY is not set")
    if not env("WARDEN_AUDIT_SIGNING_KEY", default=""):
        problems.append("WARDEN_AUDIT_SIGNING_KEY is not set")
    if not WARDEN_REGION:
        problems.append(f"WARDEN_REGION is not set ({' or '.join(WARDEN_REGIONS)})")  # noqa: F405
    elif WARDEN_REGION not in WARDEN_REGIONS:  # noqa: F405
        problems.append(f"WARDEN_REGION must be one of {', '.join(WARDEN_REGIONS)}")  # noqa: F405
    if WARDEN_CONNECTORS_ALLOW_LOOPBACK:  # noqa: F405
        problems.append("WARDEN_CONNECTORS_ALLOW_LOOPBACK must be off (connectors may not call loopback services)")
    if not WARDEN_RESIDENCY_ENFORCED:
        problems.append("WARDEN_RESIDENCY_ENFORCED must be on (data residency is always enforced in production)")
    return problems


class SettingsRefused(ImproperlyConfigured):
    """Production settings that are missing or unsafe; manage.py prints it as one line."""


if _problems():
    raise SettingsRefused("Warden refuses to start in production: " + "; ".join(_problems()) + ".")

if WARDEN_ATTACHMENT_SCANNER.endswith("EicarScanner"):  # noqa: F405
    import warnings

    warnings.warn(
        "WARDEN_ATTACHMENT_SCANNER is the EICAR-only test scanner: set apps.core.files.ClamdScanner",
        stacklevel=1,
    )
