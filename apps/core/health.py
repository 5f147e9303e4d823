"""Liveness and readiness. Both hosts serve them; neither touches tenant data."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_postgres() -> str | None:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"{type(exc).__name__}"
    return None


def _check_redis() -> str | None:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}"
    return None


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    checks = {"postgresql": _check_postgres(), "redis": _check_redis()}
    failed = sorted(name for name, error in checks.items() if error)
    body = {
        "status": "ok" if not failed else "unavailable",
        "checks": {name: ("ok" if error is None else f"failed: {error}") for name, error in checks.items()},
    }
    if failed:
        body.update(
            type="about:blank", title="Service unavailable", status=503, detail=f"Not ready: {', '.join(failed)} failed."
        )
        return JsonResponse(body, status=503, content_type="application/problem+json")
    return JsonResponse(body)
