"""GitHub's webhook signature (`X-Hub-Signature-256`). Pure.

GitHub signs the raw request body with HMAC-SHA256 under the webhook's secret and sends
`sha256=<hex digest>`. The check compares in constant time (`hmac.compare_digest`) and
refuses anything that is not exactly that shape: a missing header, another algorithm, an
empty secret.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value GitHub sends for `body` under `secret`."""
    return PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header or not header.startswith(PREFIX):
        return False
    expected = sign(secret, body)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("ascii", "replace"))
