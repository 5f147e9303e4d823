"""Agent tokens (pure). `wagent_<id>_<secret>`: the id (16 hex digits) finds the agent,
the secret (256 random bits) proves it. Only the SHA-256 of the whole token is stored;
it is compared in constant time. Shown once, when the agent is registered."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "wagent_"
_TOKEN = re.compile(r"^wagent_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_DUMMY_HASH = hashlib.sha256(b"no agent has this token").hexdigest()


@dataclass(frozen=True)
class NewToken:
    token_id: str
    token: str  # the plain token: shown once, never stored
    token_hash: str


def make() -> NewToken:
    token_id = secrets.token_hex(8)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    return NewToken(token_id=token_id, token=token, token_hash=digest(token))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_id(token: str) -> str | None:
    """The id part of a well-formed token, else None."""
    match = _TOKEN.match(token or "")
    return match.group(1) if match else None


def matches(token: str, stored_hash: str | None) -> bool:
    """Whether `token` hashes to `stored_hash`, in constant time (a missing hash is
    compared against a dummy, so an unknown id costs the same)."""
    return hmac.compare_digest(digest(token), stored_hash or _DUMMY_HASH) and stored_hash is not None
