"""API rate limits: scopes, 429 problem details with Retry-After, rates read per request.

The cache is the real Redis. Each test counts under its own key prefix (deleted afterwards)
and on a frozen clock, so that a window never ends in the middle of a test.
"""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

import pytest
import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import RequestFactory, override_settings
from django.urls import resolve
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from apps.core import throttling
from apps.core.throttling import API_THROTTLE_CLASSES, Rate, client_ip, parse_rate

PROBLEM = "application/problem+json"
# 30 s into a one-minute window, so Retry-After is 30 for "/min" rates.
NOW = 1_700_000_010.0


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    clock = SimpleNamespace(now=NOW)
    prefix = f"throttle-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(throttling.ApiRateThrottle, "cache_prefix", prefix)
    monkeypatch.setattr(throttling.ApiRateThrottle, "timer", staticmethod(lambda: clock.now))
    yield clock
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    stored = list(client.scan_iter(f"*:{prefix}:*"))
    if stored:
        client.delete(*stored)


class PingApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = list(API_THROTTLE_CLASSES)

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True}, status=201)

    def delete(self, request):
        return Response(status=204)


def user(pk: int):
    return SimpleNamespace(pk=pk, is_authenticated=True, is_active=True)


def call(method: str = "get", *, as_user=None, ip: str = "10.1.1.1", **extra):
    request = getattr(APIRequestFactory(), method)("/api/v1/ping/", REMOTE_ADDR=ip, **extra)
    if as_user is not None:
        force_authenticate(request, user=as_user)
    response = PingApi.as_view()(request)
    response.render()
    return response


def statuses(n: int, method: str = "get", **kwargs) -> list[int]:
    return [call(method, **kwargs).status_code for _ in range(n)]


def rates(**scopes):
    return override_settings(
        WARDEN_API_RATES={"user": "1000/min", "ip": "1000/min", "ip_user": "1000/min", "write": "1000/min", **scopes}
    )


# --- rates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("120/min", Rate(120, 60)),
        ("10/s", Rate(10, 1)),
        ("5 / hour", Rate(5, 3600)),
        ("1000/day", Rate(1000, 86400)),
        ("50/15min", Rate(50, 900)),
        ("3/m", Rate(3, 60)),
        (None, None),
    ],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "ten/min", "10/fortnight", "10/0min", "10", "-1/min"])
def test_parse_rate_refuses_nonsense(text):
    with pytest.raises(ImproperlyConfigured):
        parse_rate(text)


def test_scopes_missing_from_settings_keep_their_defaults():
    with override_settings(WARDEN_API_RATES={"write": "5/min"}):
        assert throttling.rate_for("write") == Rate(5, 60)
        assert throttling.rate_for("user") == parse_rate(throttling.DEFAULT_RATES["user"])
        with pytest.raises(ImproperlyConfigured):
            throttling.rate_for("nope")


# --- scopes -------------------------------------------------------------------------------


def test_user_over_the_limit_gets_429_problem_with_retry_after(tenant):
    with rates(user="3/min"):
        assert statuses(3, as_user=user(1)) == [200, 200, 200]
        refused = call(as_user=user(1))
        assert call(as_user=user(2)).status_code == 200
    assert refused.status_code == 429
    assert refused["Content-Type"] == PROBLEM
    assert refused["Retry-After"] == "30"
    body = json.loads(refused.content)
    assert (body["status"], body["title"], body["retry_after"]) == (429, "Too many requests", 30)
    assert "30 seconds" in body["detail"]


def test_anonymous_callers_are_limited_per_address(tenant):
    with rates(ip="2/min"):
        assert statuses(3, ip="10.0.0.1") == [200, 200, 429]
        assert call(ip="10.0.0.2").status_code == 200
        # Signed-in users from that address have their own, looser, per-address budget.
        assert statuses(3, ip="10.0.0.1", as_user=user(1)) == [200, 200, 200]


def test_signed_in_users_are_limited_per_address_too(tenant):
    """Many tokens from one address share the address's (looser) budget: 429 + Retry-After."""
    with rates(user="100/min", ip="1/min", ip_user="4/min"):
        answers = [call(ip="10.0.0.5", as_user=user(n)).status_code for n in range(1, 6)]
        assert answers == [200, 200, 200, 200, 429]
        refused = call(ip="10.0.0.5", as_user=user(99))
        assert refused.status_code == 429
        assert refused["Retry-After"] == "30"
        assert json.loads(refused.content)["retry_after"] == 30
        assert call(ip="10.0.0.6", as_user=user(1)).status_code == 200  # another address
        assert call(ip="10.0.0.5").status_code == 200  # anonymous callers count apart
    with rates(user="100/min", ip_user=None):
        assert statuses(10, ip="10.0.0.5", as_user=user(1)) == [200] * 10


def test_writes_have_their_own_stricter_limit(tenant):
    with rates(user="10/min", write="2/min"):
        assert statuses(2, "post", as_user=user(1)) == [201, 201]
        assert call("delete", as_user=user(1)).status_code == 429
        assert call("get", as_user=user(1)).status_code == 200
        assert call("post", as_user=user(2)).status_code == 201
        assert statuses(3, "post", ip="10.0.0.9") == [201, 201, 429]


def test_refused_requests_count_against_the_user_limit_too(tenant):
    """Every scope counts every request it covers: writes spend the user's budget as well."""
    with rates(user="3/min", write="1/min"):
        assert statuses(2, "post", as_user=user(1)) == [201, 429]
        assert statuses(2, "get", as_user=user(1)) == [200, 429]


def test_the_window_ends_when_retry_after_says(tenant, clock):
    with rates(user="1/min"):
        assert statuses(2, as_user=user(1)) == [200, 429]
        clock.now += 29
        assert call(as_user=user(1))["Retry-After"] == "1"
        clock.now += 1
        assert call(as_user=user(1)).status_code == 200


def test_rates_are_read_on_every_request(tenant):
    with rates(user="1/min"):
        assert statuses(2, as_user=user(1)) == [200, 429]
    with rates(user="5/min"):
        assert call(as_user=user(1)).status_code == 200
    with rates(user=None):
        assert statuses(10, as_user=user(1)) == [200] * 10


def test_limits_are_per_tenant(tenant, other_tenant):
    with rates(user="1/min"):
        assert statuses(2, as_user=user(1)) == [200, 429]
        connection.set_tenant(other_tenant)
        try:
            assert call(as_user=user(1)).status_code == 200
        finally:
            connection.set_tenant(tenant)


def test_requests_pass_when_the_cache_is_down(tenant, caplog):
    down = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    with rates(user="1/min"), override_settings(CACHES=down):
        assert statuses(3, as_user=user(1)) == [200, 200, 200]
    assert "cache is unavailable" in caplog.text


# --- client address -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (None, "1.1.1.1", "10.0.0.1"),
        (0, "1.1.1.1", "10.0.0.1"),
        (1, "6.6.6.6, 1.1.1.1", "1.1.1.1"),
        (2, "6.6.6.6, 1.1.1.1, 10.0.0.7", "1.1.1.1"),
        (3, "1.1.1.1", "1.1.1.1"),
        (1, None, "10.0.0.1"),
    ],
)
def test_forwarded_for_counts_only_behind_configured_proxies(proxies, forwarded, expected):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", **extra)
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}):
        assert client_ip(request) == expected


# --- end to end ---------------------------------------------------------------------------


@pytest.fixture
def throttled_audit_api(monkeypatch):
    """The real audit list with the API throttles, whether or not settings install them yet."""
    view_class = resolve("/api/v1/audit/events/", urlconf=settings.ROOT_URLCONF).func.view_class
    monkeypatch.setattr(view_class, "throttle_classes", list(API_THROTTLE_CLASSES))


def test_a_real_endpoint_answers_429_through_the_whole_stack(tenant, api_as, admin_user, throttled_audit_api):
    client = api_as(admin_user)
    with rates(user="2/min"):
        assert [client.get("/api/v1/audit/events/").status_code for _ in range(2)] == [200, 200]
        refused = client.get("/api/v1/audit/events/")
    assert refused.status_code == 429
    assert refused["Content-Type"] == PROBLEM
    assert refused["Retry-After"] == "30"
    assert refused.json()["retry_after"] == 30
    assert refused.json()["request_id"] == refused["X-Request-ID"]


def test_the_per_address_limit_for_users_answers_429_through_the_whole_stack(tenant, api_as, users):
    clients = [api_as(users[role]) for role in ("requester", "agent", "admin")]
    with rates(ip_user="3/min"):
        answers = [client.get("/api/v1/teams/").status_code for client in clients]
        refused = clients[0].get("/api/v1/teams/")
    assert answers == [200, 200, 200]
    assert refused.status_code == 429
    assert refused["Content-Type"] == PROBLEM
    assert refused["Retry-After"] == "30"


def test_settings_install_the_api_throttles():
    installed = set(api_settings.DEFAULT_THROTTLE_CLASSES)
    if not installed:
        pytest.skip("REST_FRAMEWORK['DEFAULT_THROTTLE_CLASSES'] is not set yet (see docs/api-idempotency.md)")
    assert set(API_THROTTLE_CLASSES) <= installed
