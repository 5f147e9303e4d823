"""API rate limits: per user, per client IP, and a stricter one for writes.

Rates come from ``settings.WARDEN_API_RATES`` (``{"user": "600/min", "ip": "300/min",
"ip_user": "3000/min", "write": "120/min"}``; a scope set to ``None`` is not limited).
Anonymous callers are counted per address at the ``ip`` rate; signed-in users per address
too, at the looser ``ip_user`` rate (on top of their own ``user`` limit), so that many
tokens used from one address cannot multiply a client's budget, while an organisation
behind one NAT address keeps room. They are read on every
request, unlike DRF's ``DEFAULT_THROTTLE_RATES`` which a throttle class copies at import, so
``override_settings`` works in tests.

Counting uses fixed windows aligned to the clock: one atomic ``INCR`` per request and scope
in the Django cache (Redis; the cache's key function adds the tenant schema, so limits are
per tenant). DRF's own throttles keep a list of timestamps that they read, change and write
back, which loses hits under concurrent requests; a counter does not. The price is that a
client can spend up to twice its rate across a window boundary. A refused request answers
429 with ``Retry-After`` (seconds until the window ends) through DRF's ``Throttled``.

If the cache is down the request is let through and a warning logged: rate limits protect
capacity, and refusing every API call while Redis restarts would be worse than not limiting.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from . import redis_client

logger = logging.getLogger(__name__)

DEFAULT_RATES: dict[str, str | None] = {"user": "600/min", "ip": "300/min", "ip_user": "3000/min", "write": "120/min"}

_PERIODS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}  # fmt: skip
_RATE = re.compile(r"^(\d+)/(\d*)([a-z]+)$")


@dataclass(frozen=True)
class Rate:
    requests: int
    seconds: int


def parse_rate(text: str | None) -> Rate | None:
    """``"120/min"``, ``"10/s"``, ``"1000/day"`` or ``"50/15min"``; ``None`` means no limit."""
    if text is None:
        return None
    match = _RATE.match(str(text).replace(" ", "").lower())
    if not match or match[3] not in _PERIODS or int(match[2] or 1) < 1:
        raise ImproperlyConfigured(f"Bad API rate {text!r}: use '<requests>/<period>', e.g. '120/min'.")
    return Rate(requests=int(match[1]), seconds=int(match[2] or 1) * _PERIODS[match[3]])


def rate_for(scope: str) -> Rate | None:
    """The current rate of a scope; scopes missing from WARDEN_API_RATES keep their default."""
    rates = {**DEFAULT_RATES, **getattr(settings, "WARDEN_API_RATES", {})}
    if scope not in rates:
        raise ImproperlyConfigured(f"No API rate for scope {scope!r} in WARDEN_API_RATES.")
    return parse_rate(rates[scope])


def client_ip(request: HttpRequest) -> str:
    """The caller's address. ``X-Forwarded-For`` counts only with ``NUM_PROXIES`` set.

    DRF's default (``NUM_PROXIES = None``) trusts the whole header, so any client could pick
    its own bucket by sending one; here ``None`` means no proxy, like ``0``.
    """
    remote_addr = request.META.get("REMOTE_ADDR") or "unknown"
    proxies = api_settings.NUM_PROXIES or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote_addr
    addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
    if not addresses:
        return remote_addr
    return addresses[-min(proxies, len(addresses))]


def _is_authenticated(request) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


class ApiRateThrottle(BaseThrottle):
    """A fixed-window counter for one scope; subclasses say whom a request is counted against."""

    scope = ""
    cache_prefix = "throttle"
    timer = time.time

    def __init__(self) -> None:
        self._wait: float | None = None

    def identify(self, request) -> str | None:
        """The bucket of this request, or None when this scope does not count it.

        The base class counts nobody; each scope's subclass says whom it counts.
        """
        return None

    def scope_for(self, request) -> str:
        """The scope (and so the rate) this request is counted under."""
        return self.scope

    def allow_request(self, request, view) -> bool:
        self._wait = None
        scope = self.scope_for(request)
        rate = rate_for(scope)
        ident = self.identify(request) if rate is not None else None
        if rate is None or ident is None:
            return True
        now = self.timer()
        window = int(now // rate.seconds)
        window_ends = (window + 1) * rate.seconds
        key = f"{self.cache_prefix}:{scope}:{rate.seconds}:{window}:{ident}"
        try:
            hits = self._hit(key, timeout=math.ceil(window_ends - now) + 1)
        except (redis.RedisError, OSError):
            logger.warning("Rate limit %s not checked: the cache is unavailable", scope, exc_info=True)
            return True
        if hits <= rate.requests:
            return True
        self._wait = window_ends - now
        return False

    @staticmethod
    def _hit(key: str, *, timeout: int) -> int:
        """Count one hit, in one round trip: create the window's counter with its expiry
        if it is new, then increment it, atomically (MULTI/EXEC). The key is the cache's
        (`cache.make_key`: tenant-prefixed) and the value a plain integer, as the cache
        stores integers, so `cache.get` reads the same counter."""
        pipe = redis_client.cache_client().pipeline(transaction=True)
        full_key = cache.make_key(key)
        pipe.set(full_key, 0, ex=timeout, nx=True)
        pipe.incr(full_key)
        _created, hits = pipe.execute()
        return int(hits)

    def wait(self) -> float | None:
        return None if self._wait is None else max(1.0, float(math.ceil(self._wait)))


class UserRateThrottle(ApiRateThrottle):
    """Every API request of a signed-in user."""

    scope = "user"

    def identify(self, request) -> str | None:
        return f"user:{request.user.pk}" if _is_authenticated(request) else None


class IPRateThrottle(ApiRateThrottle):
    """Every API request, by client address: anonymous ones at the ``ip`` rate, signed-in
    ones at the looser ``ip_user`` rate (a whole organisation often shares one address
    behind its NAT). The two are counted apart, so anonymous traffic from an address never
    spends its users' budget."""

    scope = "ip"

    def scope_for(self, request) -> str:
        return "ip_user" if _is_authenticated(request) else "ip"

    def identify(self, request) -> str | None:
        return f"ip:{client_ip(request)}"


class WriteRateThrottle(ApiRateThrottle):
    """Unsafe methods (POST, PUT, PATCH, DELETE), by user, or by address when anonymous."""

    scope = "write"

    def identify(self, request) -> str | None:
        if request.method in SAFE_METHODS:
            return None
        if _is_authenticated(request):
            return f"user:{request.user.pk}"
        return f"ip:{client_ip(request)}"


API_THROTTLE_CLASSES = (UserRateThrottle, IPRateThrottle, WriteRateThrottle)
