"""Signed, short-lived download links for attachments.

A token names one attachment and the user it was issued to, and is valid only for the
tenant schema it was made in (the schema is part of the signing salt) and only for its
time to live. It grants nothing by itself: the download view still checks that the
requesting user is `grant.user_id` and may see the attachment.

Tokens use only URL-safe characters (A-Z a-z 0-9 - _ .), so they fit a path segment or a
query string without quoting. Signed with SECRET_KEY; SECRET_KEY_FALLBACKS keeps links
issued before a key rotation valid until they expire.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from django.utils.translation import gettext as _

from apps.core.errors import PermissionDenied

PURPOSE = "warden.attachment.download"
MAX_TTL_SECONDS = 7 * 24 * 3600
_SEP = "."  # not in the URL-safe base64 alphabet, unreserved in URLs


class DownloadTokenError(PermissionDenied):
    """The link cannot be used (HTTP 403)."""


class TokenInvalid(DownloadTokenError):
    def __init__(self, message: str | None = None):
        super().__init__(message or _("This download link is not valid."))


class TokenExpired(DownloadTokenError):
    def __init__(self, message: str | None = None):
        super().__init__(message or _("This download link has expired. Open the attachment again to get a new one."))


@dataclass(frozen=True)
class DownloadGrant:
    attachment_id: int
    user_id: int


def _signer(schema: str) -> signing.TimestampSigner:
    if not isinstance(schema, str) or not schema:
        raise ValueError("a download token needs the tenant schema name")
    return signing.TimestampSigner(salt=f"{PURPOSE}:{schema}", sep=_SEP)


def _positive_int(value: object) -> bool:
    return type(value) is int and value > 0


def make_download_token(*, schema: str, attachment_id: int, user_id: int, ttl_seconds: int) -> str:
    if not _positive_int(attachment_id) or not _positive_int(user_id):
        raise ValueError("attachment_id and user_id must be positive integers")
    if not _positive_int(ttl_seconds) or ttl_seconds > MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}")
    return _signer(schema).sign_object({"a": attachment_id, "u": user_id, "t": ttl_seconds})


def read_download_token(token: str, *, schema: str) -> DownloadGrant:
    """The grant in a token made for this schema; TokenInvalid or TokenExpired otherwise."""
    signer = _signer(schema)
    if not isinstance(token, str) or not token or len(token) > 512:
        raise TokenInvalid()
    try:
        payload = signer.unsign_object(token)  # signature first: nothing unsigned is parsed further
    except (signing.BadSignature, ValueError, UnicodeError):
        raise TokenInvalid() from None
    if (
        not isinstance(payload, dict)
        or not _positive_int(payload.get("a"))
        or not _positive_int(payload.get("u"))
        or not _positive_int(payload.get("t"))
    ):
        raise TokenInvalid()
    try:
        signer.unsign_object(token, max_age=min(payload["t"], MAX_TTL_SECONDS))
    except signing.SignatureExpired:
        raise TokenExpired() from None
    except (signing.BadSignature, ValueError):
        raise TokenInvalid() from None
    return DownloadGrant(attachment_id=payload["a"], user_id=payload["u"])
