"""Idempotency-Key for API writes (CONTRACT "HTTP API"; docs/api-idempotency.md).

A POST, PUT, PATCH or DELETE under ``/api/v1/`` that carries ``Idempotency-Key`` runs at
most once per (tenant schema, credential, method, path, key):

- the first request claims the key in Redis (``SET NX PX``, lock of
  ``WARDEN_IDEMPOTENCY_LOCK_SECONDS``) and runs;
- its response is kept for ``WARDEN_IDEMPOTENCY_TTL_SECONDS`` if it is a result worth
  replaying (2xx, or 4xx other than 401/403/408/429), and is not streamed or ``no-store``;
  otherwise the key is released so that the client can retry;
- a later request with the same key and the same fingerprint gets that response again,
  with ``Idempotent-Replayed: true``; one with a different fingerprint gets 422; one that
  arrives while the first still runs gets 409.

The credential is the Authorization header (hashed), else the session's user id, else the
client address: the middleware runs before DRF authenticates the token, so it cannot use
``request.user`` for token clients. The fingerprint covers method, path, query string,
content type and body; a multipart boundary (random on each attempt in most clients) is
left out. Digests are HMACs keyed with SECRET_KEY, so what Redis holds does not allow
guessing a password that was sent in a body.

Without Redis a write with a key is refused with 503: proceeding without the guarantee the
client asked for could run it twice.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.crypto import salted_hmac
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext as _

from . import redis_client
from .problems import problem_response
from .throttling import client_ip

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
API_PREFIX = "/api/v1/"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_PREFIX = "idem"
# Headers given back on a replay besides Content-Type (Location of a 201).
REPLAYED_HEADERS = ("Location",)
# Refusals and transient answers: the write did not run, the client should retry them.
NOT_STORED = frozenset({401, 403, 408, 429})
DEFAULT_LOCK_SECONDS = 60
DEFAULT_TTL_SECONDS = 24 * 60 * 60

_VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")
_CHUNK = 64 * 1024
_IN_FLIGHT = "in_flight"
_DONE = "done"

# Replace the in-flight claim only if it is still ours (the lock may have expired and been
# taken by a retry while a slow request ran).
_STORE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

def _redis() -> redis.Redis:
    """A client on the process-wide pool for settings.REDIS_URL."""
    return redis_client.client()


def _hmac(purpose: str):
    return salted_hmac(f"warden.idempotency.{purpose}", b"", algorithm="sha256")


def _digest(purpose: str, *parts: str | bytes) -> str:
    """Keyed sha256 of the parts, each length-prefixed so that no two lists collide."""
    mac = _hmac(purpose)
    for part in parts:
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        mac.update(len(data).to_bytes(8, "big"))
        mac.update(data)
    return mac.hexdigest()


class BodyDigest:
    """Keyed sha256 of a body fed in chunks, each multipart delimiter replaced by a constant.

    The digest does not depend on how the body is cut into chunks.
    """

    _NEUTRAL = b"--<boundary>"

    def __init__(self, boundary: str | None = None):
        self._mac = _hmac("body")
        self._delimiter = f"--{boundary}".encode("latin-1", "replace") if boundary else b""
        self._pending = b""

    def update(self, chunk: bytes) -> None:
        if not self._delimiter:
            self._mac.update(chunk)
            return
        data = self._pending + chunk
        start = 0
        while (found := data.find(self._delimiter, start)) >= 0:
            self._mac.update(data[start:found])
            self._mac.update(self._NEUTRAL)
            start = found + len(self._delimiter)
        # A delimiter not found yet can only begin in the last len(delimiter) - 1 bytes.
        keep_from = max(start, len(data) - len(self._delimiter) + 1)
        self._mac.update(data[start:keep_from])
        self._pending = data[keep_from:]

    def hexdigest(self) -> str:
        self._mac.update(self._pending)
        self._pending = b""
        return self._mac.hexdigest()


def _content_type(request: HttpRequest) -> tuple[str, str | None]:
    """The content type without its multipart boundary, and that boundary."""
    media_type, params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
    boundary = params.pop("boundary", None) if media_type.startswith("multipart/") else None
    normalised = ";".join([media_type, *(f"{name}={value}" for name, value in sorted(params.items()))])
    return normalised, boundary


def _read_body(request: HttpRequest, digest: BodyDigest):
    """Feed the body to the digest, leaving it readable for the view.

    Bodies within DATA_UPLOAD_MAX_MEMORY_SIZE go through ``request.body``. Larger ones
    (file uploads, which Django streams to disk) are copied to a spooled temporary file
    that replaces the request's stream, as ``HttpRequest.body`` does with its BytesIO;
    the caller closes the returned file after the response.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if limit is None or length <= limit:
        digest.update(request.body)
        return None
    spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
    try:
        while chunk := request.read(_CHUNK):
            digest.update(chunk)
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    request._stream = spool
    request._read_started = False
    return spool


def _refuse_oversized(request: HttpRequest, media_type: str) -> HttpResponse | None:
    """413 before a byte is copied, for a body larger than any such request may be.

    Multipart bodies may carry one file of WARDEN_ATTACHMENT_MAX_BYTES (and its framing);
    other bodies are refused by Django over DATA_UPLOAD_MAX_MEMORY_SIZE anyway. Without
    this, a keyed request would be copied whole to a temporary file first.
    """
    from .files.limits import too_large_request, upload_request_limit

    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None  # Django refuses it in turn
    if media_type.startswith("multipart/"):
        if length > upload_request_limit():
            refusal = too_large_request(length)
            return problem_response(413, refusal.message, title=refusal.title, errors=refusal.errors)
        return None
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and length > limit:
        return problem_response(
            413, _("The request body is larger than %(limit)s bytes, the limit for this kind of request.") % {"limit": limit}
        )
    return None


@dataclass(frozen=True)
class _Claim:
    acquired: bool
    lock_value: str = ""
    record: dict | None = None


def _credential(request: HttpRequest) -> str:
    authorization = request.META.get("HTTP_AUTHORIZATION")
    if authorization:
        return "authorization:" + _digest("credential", authorization)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return "ip:" + client_ip(request)


def storage_key(request: HttpRequest, key: str) -> str:
    """``idem:<schema>:<digest of credential, method, path and key>``."""
    schema = getattr(connection, "schema_name", None) or "public"
    scope = _digest("scope", _credential(request), request.method or "", request.path, key)
    return f"{KEY_PREFIX}:{schema}:{scope}"


def _seconds_setting(name: str, default: int) -> int:
    """A setting in seconds, as whole milliseconds for PX."""
    return max(1, int(float(getattr(settings, name, default)) * 1000))


def _claim(client: redis.Redis, key: str, fingerprint: str) -> _Claim:
    lock_value = json.dumps({"state": _IN_FLIGHT, "fingerprint": fingerprint, "token": secrets.token_hex(16)})
    lock_ms = _seconds_setting("WARDEN_IDEMPOTENCY_LOCK_SECONDS", DEFAULT_LOCK_SECONDS)
    for _attempt in range(3):
        if client.set(key, lock_value, nx=True, px=lock_ms):
            return _Claim(acquired=True, lock_value=lock_value)
        stored = client.get(key)
        if stored is not None:
            return _Claim(acquired=False, record=json.loads(stored))
        # The key expired between SET and GET: try to claim it again.
    raise redis.RedisError(f"Idempotency key {key} keeps expiring")


def _storable(response: HttpResponseBase) -> bool:
    if response.streaming or "no-store" in response.get("Cache-Control", "").lower():
        return False
    status = response.status_code
    return 200 <= status < 300 or (400 <= status < 500 and status not in NOT_STORED)


def _record(response: HttpResponse, fingerprint: str) -> str:
    return json.dumps(
        {
            "state": _DONE,
            "fingerprint": fingerprint,
            "status": response.status_code,
            "content_type": response.get("Content-Type"),
            "headers": {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)},
            "body": base64.b64encode(response.content).decode("ascii"),
        }
    )


def _replay(record: dict) -> HttpResponse:
    response = HttpResponse(base64.b64decode(record["body"]), status=record["status"], content_type=record["content_type"])
    for name, value in record["headers"].items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


class IdempotencyMiddleware:
    """Replays API writes sent again with the same Idempotency-Key; see the module docstring.

    Place it after AuthenticationMiddleware (it reads the session's user) and after any
    middleware that refuses requests, so that their refusals are not what gets replayed.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        key = request.headers.get(HEADER)
        if key is None or request.method not in METHODS or not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if not _VALID_KEY.fullmatch(key):
            return problem_response(
                400, _("%(header)s must be 1 to 255 printable ASCII characters.") % {"header": HEADER},
                title=_("Invalid idempotency key"),
            )
        media_type, boundary = _content_type(request)
        refused = _refuse_oversized(request, media_type)
        if refused is not None:
            return refused
        digest = BodyDigest(boundary)
        spool = _read_body(request, digest)
        try:
            fingerprint = _digest(
                "fingerprint",
                request.method,
                request.path,
                request.META.get("QUERY_STRING", ""),
                media_type,
                digest.hexdigest(),
            )
            return self._once(request, storage_key(request, key), fingerprint)
        finally:
            if spool is not None:
                spool.close()

    def _once(self, request: HttpRequest, key: str, fingerprint: str) -> HttpResponseBase:
        try:
            client = _redis()
            claim = _claim(client, key, fingerprint)
        except redis.RedisError:
            logger.warning("Idempotency store unavailable; refusing a keyed write", exc_info=True)
            return problem_response(
                503,
                _("Requests with an %(header)s cannot be handled right now. Retry shortly with the same key.")
                % {"header": HEADER},
            )
        if not claim.acquired:
            return self._answer_claimed(claim.record or {}, fingerprint)
        try:
            response = self.get_response(request)
        except BaseException:
            self._release(client, key, claim.lock_value)
            raise
        if _storable(response):
            self._store(client, key, claim.lock_value, response, fingerprint)
        else:
            self._release(client, key, claim.lock_value)
        return response

    @staticmethod
    def _answer_claimed(record: dict, fingerprint: str) -> HttpResponseBase:
        if record.get("fingerprint") != fingerprint:
            return problem_response(
                422,
                _("This %(header)s was already used for a different request. Use a new key for a new request.")
                % {"header": HEADER},
                title=_("Idempotency key reused"),
            )
        if record.get("state") != _DONE:
            return problem_response(
                409,
                _("A request with this %(header)s is still being processed. Retry later with the same key.")
                % {"header": HEADER},
                title=_("Request in progress"),
                headers={"Retry-After": "1"},
            )
        return _replay(record)

    @staticmethod
    def _store(client: redis.Redis, key: str, lock_value: str, response: HttpResponse, fingerprint: str) -> None:
        ttl_ms = _seconds_setting("WARDEN_IDEMPOTENCY_TTL_SECONDS", DEFAULT_TTL_SECONDS)
        try:
            stored = client.register_script(_STORE)(keys=[key], args=[lock_value, _record(response, fingerprint), ttl_ms])
        except redis.RedisError:
            # The write ran: answer it. A retry will run again once the lock expires.
            logger.exception("Could not keep the response for an idempotency key")
            return
        if not stored:
            logger.warning("A keyed request outlived its idempotency lock; its response was not kept")

    @staticmethod
    def _release(client: redis.Redis, key: str, lock_value: str) -> None:
        try:
            client.register_script(_RELEASE)(keys=[key], args=[lock_value])
        except redis.RedisError:
            logger.exception("Could not release an idempotency key; it expires with its lock")
