"""System checks: production must sign checkpoints with a real key."""

from django.conf import settings
from django.core.checks import Error, Tags, register

from . import keys


@register(Tags.security, deploy=True)
def check_signing_key(app_configs, **kwargs) -> list[Error]:
    errors = []
    if keys.using_dev_key():
        errors.append(
            Error(
                "WARDEN_AUDIT_SIGNING_KEY is not set: audit checkpoints are signed with the public development key.",
                hint="Set WARDEN_AUDIT_SIGNING_KEY (and WARDEN_AUDIT_KEY_ID) from the environment.",
                id="audit.E001",
            )
        )
    elif len(settings.WARDEN_AUDIT_SIGNING_KEY) < 32:
        errors.append(
            Error(
                "WARDEN_AUDIT_SIGNING_KEY is shorter than 32 characters.",
                hint="Use at least 32 random bytes, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`.",
                id="audit.E002",
            )
        )
    return errors
