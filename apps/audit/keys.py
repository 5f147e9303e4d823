"""Checkpoint signing keys, from settings: HMAC-SHA256 or Ed25519.

WARDEN_AUDIT_SIGNING_KEY / WARDEN_AUDIT_KEY_ID sign new checkpoints and evidence-pack
manifests. The kind of key decides the algorithm (docs/decisions/0011-ed25519-signatures-and-pack-verification.md):

* an Ed25519 private key, as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----...`) or as
  `ed25519:<base64 of the 32-byte seed>` (one line, easy in an environment variable):
  signatures are Ed25519 and anyone can verify them with the public key, which evidence
  packs carry; nobody can forge them without the private key;
* anything else is an HMAC-SHA256 secret (its UTF-8 bytes): verifying needs the secret,
  which can also forge. Kept for existing deployments.

Retired keys stay verifiable through WARDEN_AUDIT_RETIRED_KEYS ({key_id: key}), where a
key is an HMAC secret, an Ed25519 private key in either form, or just the public key as
`ed25519-public:<64 hex>`. Without a configured key a fixed development HMAC key is used;
`manage.py check --deploy` reports that as an error. Local and demo installs
(config.settings.local) do not get there: they sign with a key of their own, generated
once by `install_signing_key()` under `.run/`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from .verify import CHECKPOINT_ALGORITHM, ED25519, Ed25519PublicKey

DEV_SIGNING_KEY = "warden-dev-audit-signing-key--not-a-secret"
DEFAULT_KEY_ID = "k1"
HMAC_SHA256 = CHECKPOINT_ALGORITHM
_SEED_PREFIX = "ed25519:"
_PUBLIC_PREFIX = "ed25519-public:"


class SigningKeyInvalid(ValueError):
    """A configured key that looks like an Ed25519 key but is not a usable one."""


@dataclass(frozen=True)
class Signer:
    """The key new checkpoints and manifests are signed with."""

    key_id: str
    algorithm: str
    _secret: object = field(repr=False)  # bytes (HMAC) or an Ed25519PrivateKey

    def sign(self, message: bytes) -> str:
        """Hex signature of `message`: HMAC-SHA256 (64 chars) or Ed25519 (128 chars)."""
        if self.algorithm == ED25519:
            return self._secret.sign(message).hex()  # type: ignore[attr-defined]
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()  # type: ignore[arg-type]

    @property
    def public_key(self) -> Ed25519PublicKey | None:
        """The Ed25519 public key (None for HMAC): safe to publish and to put in packs."""
        if self.algorithm != ED25519:
            return None
        return _public_of(self._secret)


def _public_of(private_key) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization

    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Ed25519PublicKey(raw)


def _ed25519_private(text: str):
    """An Ed25519PrivateKey for PEM or `ed25519:<base64 seed>` text; None for anything else."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(stripped.encode("ascii"), password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyInvalid(f"the PEM signing key cannot be loaded: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyInvalid(f"a PEM signing key must be an Ed25519 key, not {type(key).__name__}")
        return key
    if stripped.startswith(_SEED_PREFIX):
        encoded = stripped[len(_SEED_PREFIX):]
        try:
            seed = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=False)
        except (binascii.Error, ValueError):
            seed = b""
        if len(seed) != 32:
            raise SigningKeyInvalid("an ed25519: signing key is the base64 of exactly 32 bytes")
        return Ed25519PrivateKey.from_private_bytes(seed)
    return None


def ed25519_fingerprint(text: str) -> str:
    """The fingerprint (SHA-256 of the raw public key, hex) of an Ed25519 private key given
    as PEM or `ed25519:<base64 seed>` text; SigningKeyInvalid for anything else."""
    private = _ed25519_private(text)
    if private is None:
        raise SigningKeyInvalid("not an Ed25519 private key (PEM or ed25519:<base64 seed>)")
    return _public_of(private).fingerprint


def install_signing_key(path: str | os.PathLike[str]) -> str:
    """This install's own Ed25519 signing key, as PKCS#8 PEM text: read from `path`, or
    generated there on first use (mode 0600, owner only) and reused from then on.

    For local and demo installs, so that their packs verify with the public key alone
    instead of carrying checkpoints signed with a development HMAC key everyone knows.
    Processes starting together (web, worker, beat) agree on one key: the key is written to
    a temporary file that is then hard-linked into place, which fails when another process
    got there first, and that process's complete file is read instead. An existing file is
    never replaced: an unreadable one raises SigningKeyInvalid, since a new key would leave
    the checkpoints signed with the old one unverifiable.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    target = Path(path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process was first: use its key
                os.link(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
    text = target.read_text(encoding="ascii", errors="replace")
    try:
        ed25519_fingerprint(text)
    except SigningKeyInvalid as exc:
        raise SigningKeyInvalid(f"{target} does not hold a usable Ed25519 key ({exc}); "
                                "restore it, or set WARDEN_AUDIT_SIGNING_KEY") from None
    return text


def _as_bytes(key) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def signer() -> Signer:
    """The configured signing key (raises SigningKeyInvalid for an unusable Ed25519 key)."""
    key = getattr(settings, "WARDEN_AUDIT_SIGNING_KEY", "") or DEV_SIGNING_KEY
    key_id = getattr(settings, "WARDEN_AUDIT_KEY_ID", "") or DEFAULT_KEY_ID
    private = _ed25519_private(key) if isinstance(key, str) else None
    if private is not None:
        return Signer(key_id=key_id, algorithm=ED25519, _secret=private)
    return Signer(key_id=key_id, algorithm=HMAC_SHA256, _secret=_as_bytes(key))


def signing_key() -> tuple[str, bytes]:
    """(key id, HMAC key bytes) of an HMAC configuration; prefer `signer()`."""
    current = signer()
    if current.algorithm != HMAC_SHA256:
        raise SigningKeyInvalid("the configured signing key is an Ed25519 key, not an HMAC secret")
    return current.key_id, current._secret  # type: ignore[return-value]


def _verification_key(value) -> bytes | Ed25519PublicKey:
    if isinstance(value, Ed25519PublicKey):
        return value
    if isinstance(value, str):
        if value.strip().startswith(_PUBLIC_PREFIX):
            return Ed25519PublicKey.from_hex(value.strip()[len(_PUBLIC_PREFIX):])
        private = _ed25519_private(value)
        if private is not None:
            return _public_of(private)
    return _as_bytes(value)


def verification_keys() -> dict[str, bytes | Ed25519PublicKey]:
    """Every key id a checkpoint may legitimately be signed with: HMAC secrets as bytes,
    Ed25519 keys as public keys (the verifier refuses to mix the two up)."""
    found: dict[str, bytes | Ed25519PublicKey] = {}
    for key_id, key in (getattr(settings, "WARDEN_AUDIT_RETIRED_KEYS", None) or {}).items():
        found[str(key_id)] = _verification_key(key)
    current = signer()
    found[current.key_id] = current.public_key or current._secret  # type: ignore[assignment]
    return found


def public_keys() -> dict[str, Ed25519PublicKey]:
    """The Ed25519 public keys among the verification keys: what an evidence pack carries."""
    return {key_id: key for key_id, key in verification_keys().items() if isinstance(key, Ed25519PublicKey)}


def ed25519_verify_fast(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Ed25519 verification with `cryptography` (the pure-Python one is for offline packs)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey as CryptoPublicKey

    try:
        CryptoPublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def using_dev_key() -> bool:
    return not getattr(settings, "WARDEN_AUDIT_SIGNING_KEY", "")
