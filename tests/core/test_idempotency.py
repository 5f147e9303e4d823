"""Idempotency-Key on API writes: the middleware alone (RequestFactory), then end to end.

Redis is real. Each test stores its keys under its own prefix and deletes them afterwards.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from types import SimpleNamespace
from unittest import mock

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse, StreamingHttpResponse
from django.test import Client, RequestFactory, override_settings
from django.test.client import encode_multipart
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.services import token_issue
from apps.core import idempotency
from apps.core.idempotency import BodyDigest, IdempotencyMiddleware

PRODUCTION_PREFIX = idempotency.KEY_PREFIX
MIDDLEWARE = "apps.core.idempotency.IdempotencyMiddleware"
HOST = "alpha.localhost"
PASSWORD = "correct-horse-battery-staple"
PROBLEM = "application/problem+json"
DOWN = "redis://127.0.0.1:1/0"

rf = RequestFactory()


@pytest.fixture(autouse=True)
def key_prefix(monkeypatch):
    """This test's own Redis namespace, emptied afterwards."""
    prefix = f"idem-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(idempotency, "KEY_PREFIX", prefix)
    yield prefix
    client = redis.Redis.from_url(settings.REDIS_URL)
    stored = list(client.scan_iter(f"{prefix}:*"))
    if stored:
        client.delete(*stored)


@pytest.fixture
def stored_keys(key_prefix):
    client = redis.Redis.from_url(settings.REDIS_URL)
    return lambda: sorted(k.decode() for k in client.scan_iter(f"{key_prefix}:*"))


@pytest.fixture
def key():
    return f"key-{uuid.uuid4()}"


class FakeView:
    """Counts calls; answers JSON naming the call, or whatever `respond(n)` returns.

    Calls listed in `block` wait for `gate` after setting `started`.
    """

    def __init__(self, statuses=(201,), *, respond=None, block=(), headers=None):
        self.statuses = list(statuses)
        self.respond = respond
        self.block = set(block)
        self.headers = headers or {}
        self.started = threading.Event()
        self.gate = threading.Event()
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request):
        with self._lock:
            self.calls += 1
            number = self.calls
        if number in self.block:
            self.started.set()
            assert self.gate.wait(10), "the test never opened the gate"
        if self.respond is not None:
            return self.respond(number, request)
        status = self.statuses[min(number, len(self.statuses)) - 1]
        response = JsonResponse({"call": number}, status=status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def user(pk: int):
    return SimpleNamespace(pk=pk, is_authenticated=True)


def write(
    key=None,
    *,
    method="post",
    path="/api/v1/things/",
    body=None,
    auth="Token token-one",
    session_user=None,
    ip="10.0.0.1",
    content_type="application/json",
    data=None,
):
    extra = {"REMOTE_ADDR": ip}
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    if auth:
        extra["HTTP_AUTHORIZATION"] = auth
    if data is None:
        data = json.dumps(body if body is not None else {"title": "Printer on fire"})
    request = rf.generic(method.upper(), path, data=data, content_type=content_type, **extra)
    request.user = session_user or AnonymousUser()
    return request


def in_thread(tenant, fn, results):
    def run():
        connection.set_tenant(tenant)
        try:
            results.append(fn())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


# --- replay -----------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_response_without_running_the_view(tenant, key):
    view = FakeView(headers={"Location": "/api/v1/things/7/"})
    middleware = IdempotencyMiddleware(view)

    first = middleware(write(key))
    again = middleware(write(key))

    assert view.calls == 1
    assert first.status_code == again.status_code == 201
    assert again.content == first.content == b'{"call": 1}'
    assert again["Content-Type"] == "application/json"
    assert again["Location"] == "/api/v1/things/7/"
    assert again[idempotency.REPLAYED_HEADER] == "true"
    assert not first.has_header(idempotency.REPLAYED_HEADER)


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_client_errors_are_replayed_too(tenant, key, status):
    view = FakeView([status, 201])
    middleware = IdempotencyMiddleware(view)
    middleware(write(key))
    again = middleware(write(key))
    assert view.calls == 1
    assert again.status_code == status
    assert again[idempotency.REPLAYED_HEADER] == "true"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_put_patch_and_delete_with_a_key_run_once(tenant, key, method):
    view = FakeView([200])
    middleware = IdempotencyMiddleware(view)
    middleware(write(key, method=method, path="/api/v1/things/7/"))
    again = middleware(write(key, method=method, path="/api/v1/things/7/"))
    assert view.calls == 1
    assert again[idempotency.REPLAYED_HEADER] == "true"


@pytest.mark.parametrize(
    "request_kwargs",
    [
        pytest.param({}, id="no-key"),
        pytest.param({"method": "get", "key": "k"}, id="get"),
        pytest.param({"path": "/tickets/new/", "key": "k"}, id="not-api"),
        pytest.param({"path": "/api/v2/things/", "key": "k"}, id="other-api-version"),
    ],
)
def test_requests_without_a_key_reads_and_other_paths_pass_through(tenant, stored_keys, request_kwargs):
    view = FakeView([200])
    middleware = IdempotencyMiddleware(view)
    responses = [middleware(write(**request_kwargs)) for _ in range(2)]
    assert view.calls == 2
    assert [r.content for r in responses] == [b'{"call": 1}', b'{"call": 2}']
    assert stored_keys() == []


def test_a_replayed_response_lives_for_the_ttl_and_the_lock_for_the_lock_time(tenant, key, stored_keys):
    client = redis.Redis.from_url(settings.REDIS_URL)
    seen = {}

    def respond(number, request):
        (seen["key"],) = stored_keys()
        seen["lock_ms"] = client.pttl(seen["key"])
        return JsonResponse({"call": number}, status=201)

    with override_settings(WARDEN_IDEMPOTENCY_LOCK_SECONDS=30, WARDEN_IDEMPOTENCY_TTL_SECONDS=120):
        IdempotencyMiddleware(FakeView(respond=respond))(write(key))
    assert 25_000 < seen["lock_ms"] <= 30_000
    assert 115_000 < client.pttl(seen["key"]) <= 120_000


def test_storage_key_names_the_tenant_schema_and_hides_key_and_credential(tenant, key):
    assert PRODUCTION_PREFIX == "idem"
    stored = idempotency.storage_key(write(key), key)
    prefix, schema, digest = stored.split(":")
    assert (prefix, schema) == (idempotency.KEY_PREFIX, "t_alpha")
    assert key not in stored
    assert "token-one" not in stored
    assert len(digest) == 64


# --- fingerprint mismatch and concurrency ---------------------------------------------


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"body": {"title": "Printer on fire!"}}, id="body"),
        pytest.param({"path": "/api/v1/things/?draft=1"}, id="query-string"),
        pytest.param({"content_type": "application/merge-patch+json"}, id="content-type"),
    ],
)
def test_same_key_with_a_different_request_is_422(tenant, key, changed):
    view = FakeView()
    middleware = IdempotencyMiddleware(view)
    middleware(write(key))
    response = middleware(write(key, **changed))
    assert view.calls == 1
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    body = json.loads(response.content)
    assert body["status"] == 422
    assert "different request" in body["detail"]


def test_concurrent_requests_with_one_key_run_once_and_the_other_gets_409(tenant, key):
    view = FakeView(block={1, 2})  # whichever call comes first waits; a second call would too
    middleware = IdempotencyMiddleware(view)
    barrier = threading.Barrier(2)
    results: list = []

    def send():
        barrier.wait(5)
        return middleware(write(key))

    threads = [in_thread(tenant, send, results) for _ in range(2)]
    deadline = time.monotonic() + 10
    while len(results) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(results) == 1, "both requests entered the view"
    view.gate.set()
    for thread in threads:
        thread.join(10)

    assert view.calls == 1
    assert sorted(r.status_code for r in results) == [201, 409]
    conflict = next(r for r in results if r.status_code == 409)
    assert conflict["Content-Type"] == PROBLEM
    assert json.loads(conflict.content)["title"] == "Request in progress"
    assert conflict["Retry-After"] == "1"
    after = middleware(write(key))
    assert (after.status_code, after[idempotency.REPLAYED_HEADER]) == (201, "true")


def test_a_different_request_while_the_first_runs_is_422(tenant, key):
    view = FakeView(block={1})
    middleware = IdempotencyMiddleware(view)
    results: list = []
    thread = in_thread(tenant, lambda: middleware(write(key)), results)
    assert view.started.wait(10)
    try:
        assert middleware(write(key, body={"title": "other"})).status_code == 422
        assert middleware(write(key)).status_code == 409
    finally:
        view.gate.set()
        thread.join(10)
    assert [r.status_code for r in results] == [201]


def test_a_request_that_outlives_its_lock_does_not_overwrite_the_retry(tenant, key):
    view = FakeView(block={1})
    middleware = IdempotencyMiddleware(view)
    results: list = []
    with override_settings(WARDEN_IDEMPOTENCY_LOCK_SECONDS=0.2):
        slow = in_thread(tenant, lambda: middleware(write(key)), results)
        assert view.started.wait(10)
        time.sleep(0.4)  # the slow request's lock has expired
        retry = middleware(write(key))
        view.gate.set()
        slow.join(10)
    assert retry.content == b'{"call": 2}'
    assert results[0].content == b'{"call": 1}'
    assert middleware(write(key)).content == b'{"call": 2}'


# --- what is not kept ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 401, 403, 408, 429])
def test_server_errors_refusals_and_throttling_are_not_kept(tenant, key, status):
    view = FakeView([status, 201])
    middleware = IdempotencyMiddleware(view)
    assert middleware(write(key)).status_code == status
    retry = middleware(write(key))
    assert view.calls == 2
    assert retry.status_code == 201
    assert not retry.has_header(idempotency.REPLAYED_HEADER)
    assert middleware(write(key)).content == b'{"call": 2}'


def test_an_exception_in_the_view_releases_the_key(tenant, key):
    def respond(number, request):
        if number == 1:
            raise RuntimeError("boom")
        return JsonResponse({"call": number}, status=201)

    view = FakeView(respond=respond)
    middleware = IdempotencyMiddleware(view)
    with pytest.raises(RuntimeError):
        middleware(write(key))
    assert middleware(write(key)).status_code == 201
    assert view.calls == 2


@pytest.mark.parametrize(
    "respond",
    [
        pytest.param(lambda n, r: StreamingHttpResponse(iter([b"call ", str(n).encode()])), id="streaming"),
        pytest.param(lambda n, r: JsonResponse({"call": n}, headers={"Cache-Control": "no-store"}, status=201), id="no-store"),
    ],
)
def test_streaming_and_no_store_responses_are_not_kept(tenant, key, respond):
    view = FakeView(respond=respond)
    middleware = IdempotencyMiddleware(view)
    middleware(write(key))
    second = middleware(write(key))
    assert view.calls == 2
    assert not second.has_header(idempotency.REPLAYED_HEADER)


# --- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_key",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * 256, id="too-long"),
        pytest.param("clé-unique", id="non-ascii"),
        pytest.param("tab\there", id="control-character"),
    ],
)
def test_malformed_keys_are_400(tenant, stored_keys, bad_key):
    view = FakeView()
    response = IdempotencyMiddleware(view)(write(bad_key))
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert "Idempotency-Key" in json.loads(response.content)["detail"]
    assert view.calls == 0
    assert stored_keys() == []


@pytest.mark.parametrize("good_key", ["x" * 255, "a", "with spaces and ~!@#$%^&*()"])
def test_printable_ascii_keys_up_to_255_characters_are_accepted(tenant, good_key):
    view = FakeView()
    middleware = IdempotencyMiddleware(view)
    middleware(write(good_key))
    assert middleware(write(good_key))[idempotency.REPLAYED_HEADER] == "true"


def test_keys_are_scoped_per_tenant(tenant, other_tenant, key, stored_keys):
    view = FakeView()
    middleware = IdempotencyMiddleware(view)
    in_alpha = middleware(write(key))
    connection.set_tenant(other_tenant)
    try:
        in_beta = middleware(write(key))
    finally:
        connection.set_tenant(tenant)
    assert (in_alpha.content, in_beta.content) == (b'{"call": 1}', b'{"call": 2}')
    assert middleware(write(key)).content == b'{"call": 1}'
    assert [k.split(":")[1] for k in stored_keys()] == ["t_alpha", "t_beta"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param({"auth": "Token token-one"}, {"auth": "Token token-two"}, id="token"),
        pytest.param({"auth": None, "session_user": user(1)}, {"auth": None, "session_user": user(2)}, id="session"),
        pytest.param({"auth": None, "ip": "10.0.0.1"}, {"auth": None, "ip": "10.0.0.2"}, id="anonymous"),
        pytest.param({"auth": "Token token-one"}, {"auth": None, "ip": "10.0.0.1"}, id="token-vs-anonymous"),
        pytest.param({"method": "put"}, {"method": "patch"}, id="method"),
        pytest.param({"path": "/api/v1/things/"}, {"path": "/api/v1/other-things/"}, id="path"),
    ],
)
def test_keys_are_scoped_per_credential_method_and_path(tenant, key, first, second):
    view = FakeView()
    middleware = IdempotencyMiddleware(view)
    responses = [middleware(write(key, **first)), middleware(write(key, **second))]
    assert view.calls == 2
    assert [r.status_code for r in responses] == [201, 201]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param({"auth": None, "session_user": user(1), "ip": "10.0.0.1"},
                     {"auth": None, "session_user": user(1), "ip": "10.9.9.9"}, id="session-user-moves"),
        pytest.param({"auth": "Token token-one", "ip": "10.0.0.1"},
                     {"auth": "Token token-one", "ip": "10.9.9.9"}, id="token-client-moves"),
    ],
)  # fmt: skip
def test_the_same_credential_from_another_address_replays(tenant, key, first, second):
    view = FakeView()
    middleware = IdempotencyMiddleware(view)
    middleware(write(key, **first))
    assert middleware(write(key, **second))[idempotency.REPLAYED_HEADER] == "true"
    assert view.calls == 1


# --- Redis down ---------------------------------------------------------------------------


def test_without_redis_keyed_writes_are_refused_with_503(tenant, key):
    view = FakeView()
    with override_settings(REDIS_URL=DOWN):
        response = IdempotencyMiddleware(view)(write(key))
        unkeyed = IdempotencyMiddleware(view)(write())
    assert response.status_code == 503
    assert response["Content-Type"] == PROBLEM
    assert json.loads(response.content)["status"] == 503
    assert unkeyed.status_code == 201
    assert view.calls == 1


# --- bodies -------------------------------------------------------------------------------


def _multipart(boundary: str, content: bytes) -> tuple[bytes, str]:
    body = encode_multipart(boundary, {"title": "Logs", "file": _File(content)})
    return body, f"multipart/form-data; boundary={boundary}"


class _File:
    """What encode_multipart treats as a file."""

    def __init__(self, content: bytes):
        self.name = "log.txt"
        self._content = content

    def read(self):
        return self._content


class UploadApi(APIView):
    """What an attachment endpoint will do: DRF parses the multipart body."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser]

    def post(self, request):
        upload = request.data["file"]
        return Response({"title": request.data["title"], "size": len(upload.read())}, status=201)


def _upload_view(kind: str = "django"):
    def respond(number, request):
        if kind == "drf":
            response = UploadApi.as_view()(request)
            response.render()
            return JsonResponse({"call": number, **response.data}, status=response.status_code)
        upload = request.FILES["file"]
        return JsonResponse({"call": number, "title": request.POST["title"], "size": len(upload.read())}, status=201)

    return FakeView(respond=respond)


@pytest.mark.parametrize("kind", ["django", "drf"])
def test_large_uploads_are_fingerprinted_as_a_stream_and_still_reach_the_view(tenant, key, kind):
    content = random.Random(1).randbytes(300_000)
    view = _upload_view(kind)
    middleware = IdempotencyMiddleware(view)
    data, content_type = _multipart("BoundaryOne", content)
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024, FILE_UPLOAD_MAX_MEMORY_SIZE=1024):
        first = middleware(write(key, data=data, content_type=content_type))
        assert first.status_code == 201
        assert json.loads(first.content) == {"call": 1, "title": "Logs", "size": 300_000}

        # A client retrying builds a new body with a new random boundary: still the same request.
        data, content_type = _multipart("AnotherBoundary42", content)
        again = middleware(write(key, data=data, content_type=content_type))
        assert again[idempotency.REPLAYED_HEADER] == "true"

        data, content_type = _multipart("BoundaryOne", content[:-1] + b"!")
        assert middleware(write(key, data=data, content_type=content_type)).status_code == 422
    assert view.calls == 1


def test_a_body_read_in_memory_and_streamed_has_one_fingerprint(tenant, key):
    content = random.Random(2).randbytes(5000)
    view = _upload_view()
    middleware = IdempotencyMiddleware(view)
    data, content_type = _multipart("BoundaryOne", content)
    middleware(write(key, data=data, content_type=content_type))
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024):
        again = middleware(write(key, data=data, content_type=content_type))
    assert again[idempotency.REPLAYED_HEADER] == "true"
    assert view.calls == 1


@pytest.mark.parametrize("seed", range(20))
def test_body_digest_does_not_depend_on_chunking_or_boundary(seed):
    rng = random.Random(seed)
    parts = [rng.randbytes(rng.randint(0, 40)) for _ in range(5)]

    def body(boundary: str) -> bytes:
        delimiter = f"--{boundary}".encode()
        return delimiter + delimiter.join(parts) + delimiter + b"--"

    def digest(boundary: str, data: bytes, cuts: list[int]) -> str:
        d = BodyDigest(boundary)
        previous = 0
        for cut in [*sorted(cuts), len(data)]:
            d.update(data[previous:cut])
            previous = cut
        return d.hexdigest()

    one = body("abc123")
    other = body("ZZ-other-boundary-ZZ")
    whole = digest("abc123", one, [])
    assert digest("abc123", one, [rng.randint(0, len(one)) for _ in range(rng.randint(1, 12))]) == whole
    assert digest("ZZ-other-boundary-ZZ", other, [rng.randint(0, len(other)) for _ in range(6)]) == whole
    changed = body("abc123").replace(b"--abc123", b"--abc124", 1)
    assert digest("abc123", changed, []) != whole


# --- end to end: POST /api/v1/auth/token/ through the real middleware stack ----------------


@pytest.fixture
def web(tenant):
    """A client on alpha's host with the middleware installed where settings should put it."""
    middleware = list(settings.MIDDLEWARE)
    if MIDDLEWARE not in middleware:
        middleware.insert(middleware.index("apps.accounts.middleware.MfaRequiredMiddleware") + 1, MIDDLEWARE)
    ip = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    with override_settings(MIDDLEWARE=middleware):
        yield Client(HTTP_HOST=HOST, REMOTE_ADDR=ip)
    cache.delete(f"throttle_login_{ip}")  # the token view's own LoginThrottle


def _login(web, key=None, password=PASSWORD, email="agent@alpha.test"):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return web.post(
        "/api/v1/auth/token/", {"email": email, "password": password}, content_type="application/json", headers=headers
    )


def test_token_endpoint_never_keeps_the_token_for_replay(web, key):
    """The token response says no-store, so it is not kept in Redis: a retry runs again."""
    with mock.patch("apps.accounts.api.views.token_issue", wraps=token_issue) as issue:
        first = _login(web, key)
        again = _login(web, key)
    assert issue.call_count == 2
    assert first.status_code == again.status_code == 200
    assert first["Cache-Control"] == "no-store"
    assert not again.has_header("Idempotent-Replayed")
    token = first.json()["token"]
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert not any(token.encode() in (client.get(k) or b"") for k in client.scan_iter("idem:*"))


def test_token_endpoint_replays_its_400_and_refuses_another_body_with_422(web, key):
    wrong = _login(web, key, password="wrong")
    assert wrong.status_code == 400
    replay = _login(web, key, password="wrong")
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == wrong.json()  # the first response, request id included
    reused = _login(web, key)
    assert reused.status_code == 422
    assert reused["Content-Type"] == PROBLEM
    assert reused.json()["title"] == "Idempotency key reused"


def test_token_endpoint_without_a_key_runs_every_time(web):
    with mock.patch("apps.accounts.api.views.token_issue", wraps=token_issue) as issue:
        responses = [_login(web), _login(web)]
    assert issue.call_count == 2
    assert not any(r.has_header("Idempotent-Replayed") for r in responses)


def test_token_endpoint_bad_key_is_400_and_redis_down_is_503(web, key):
    with mock.patch("apps.accounts.api.views.token_issue", wraps=token_issue) as issue:
        bad = _login(web, "x" * 256)
        with override_settings(REDIS_URL=DOWN):
            down = _login(web, key)
    assert issue.call_count == 0
    assert (bad.status_code, bad["Content-Type"]) == (400, PROBLEM)
    assert (down.status_code, down["Content-Type"]) == (503, PROBLEM)
    assert down["X-Request-ID"] == down.json()["request_id"]
