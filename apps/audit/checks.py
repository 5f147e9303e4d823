"""System checks: production must sign checkpoints with a real, usable key."""

from django.core.checks import Error, Tags, register

from . import keys


@register(Tags.security, deploy=True)
def check_signing_key(app_configs, **kwargs) -> list[Error]:
    errors = []
    if keys.using_dev_key():
        errors.append(
            Error(
                "WARDEN_AUDIT_SIGNING_KEY is not set: audit checkpoints are signed with the public development key.",
                hint="Set WARDEN_AUDIT_SIGNING_KEY (and WARDEN_AUDIT_KEY_ID) from the environment; "
                "an Ed25519 key (docs/audit.md) lets auditors verify without being able to forge.",
                id="audit.E001",
            )
        )
        return errors
    try:
        signer = keys.signer()
    except keys.SigningKeyInvalid as exc:
        return [Error(f"WARDEN_AUDIT_SIGNING_KEY is not usable: {exc}", id="audit.E003")]
    if signer.algorithm == keys.HMAC_SHA256 and len(signer._secret) < 32:  # noqa: SLF001
        errors.append(
            Error(
                "WARDEN_AUDIT_SIGNING_KEY is shorter than 32 characters.",
                hint="Use at least 32 random bytes, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`, "
                "or an Ed25519 key.",
                id="audit.E002",
            )
        )
    return errors
