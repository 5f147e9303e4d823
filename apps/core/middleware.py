from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.log import log_response

from . import request_id

HEADER = "X-Request-ID"


class RequestIDMiddleware:
    """Accepts a sane incoming X-Request-ID or makes one; echoes it on every response.

    Every log line written while the request is handled carries the id (the logging
    filter reads it). Django logs a 4xx/5xx *response* (as opposed to an exception) only
    after the whole middleware chain has returned, when the id is gone; so such
    responses are logged here, while it is still set, exactly as Django would.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = request_id.set(request.headers.get(HEADER))
        request.request_id = request_id.get()
        try:
            response = self.get_response(request)
            response[HEADER] = request.request_id
            if response.status_code >= 400:
                log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
            return response
        finally:
            request_id.reset(token)


class ApplicationErrorMiddleware:
    """HTML views: an ApplicationError that escapes a view becomes an error page with its
    status (a policy denial is persisted first, see problems.persist_denial)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from .errors import ApplicationError
        from .problems import error_page, persist_denial

        if not isinstance(exception, ApplicationError):
            return None
        persist_denial(exception)
        return error_page(request, exception.status, exception.message, title=exception.title)
