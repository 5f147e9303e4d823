from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import request_id

HEADER = "X-Request-ID"


class RequestIDMiddleware:
    """Accepts a sane incoming X-Request-ID or makes one; echoes it on every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = request_id.set(request.headers.get(HEADER))
        request.request_id = request_id.get()
        try:
            response = self.get_response(request)
            response[HEADER] = request.request_id
            return response
        finally:
            request_id.reset(token)
