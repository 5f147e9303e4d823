"""RFC 9457 problem details for every API error, and HTML/JSON error pages."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import governance, request_id
from .errors import ApplicationError

logger = logging.getLogger(__name__)
PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: gettext_lazy("Invalid request"),
    401: gettext_lazy("Not authenticated"),
    403: gettext_lazy("Forbidden"),
    404: gettext_lazy("Not found"),
    405: gettext_lazy("Method not allowed"),
    406: gettext_lazy("Not acceptable"),
    409: gettext_lazy("Conflict"),
    413: gettext_lazy("Payload too large"),
    415: gettext_lazy("Unsupported media type"),
    422: gettext_lazy("Unprocessable content"),
    429: gettext_lazy("Too many requests"),
    500: gettext_lazy("Internal server error"),
    503: gettext_lazy("Service unavailable"),
}


def problem(status_code: int, detail: str, *, title: str | None = None, **extra) -> dict:
    body = {
        "type": "about:blank",
        "title": str(title or TITLES.get(status_code) or _("Error")),
        "status": status_code,
        "detail": detail,
        "request_id": request_id.get(),
    }
    body.update(extra)
    return body


def problem_response(status_code: int, detail: str, *, title: str | None = None, headers=None, **extra) -> JsonResponse:
    response = JsonResponse(
        problem(status_code, detail, title=title, **extra), status=status_code, content_type=PROBLEM_CONTENT_TYPE
    )
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten(value).items():
                    out[f"{key}.{sub}"] = msgs
            elif isinstance(value, list):
                out[key] = [str(v) if not isinstance(v, dict) else str(v) for v in value]
            else:
                out[key] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


def exception_handler(exc, context) -> Response | None:
    """DRF exception handler: every error becomes application/problem+json."""
    persist_denial(exc)
    if isinstance(exc, ApplicationError):
        body = problem(exc.status, exc.message, title=exc.title)
        if exc.errors:
            body["errors"] = exc.errors
        return Response(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, RequestDataTooBig):
        # Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE (DRF reads JSON
        # through request.body); without this it would be an unhandled 500.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            problem(413, _("The request body is larger than %(limit)s bytes, the limit for this kind of request.")
                    % {"limit": limit}),
            status=413,
            content_type=PROBLEM_CONTENT_TYPE,
        )
    if isinstance(exc, SuspiciousOperation):  # too many fields or files, a malformed multipart body, ...
        return Response(problem(400, _("The request could not be read.")), status=400, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return Response(
            problem(500, _("The server failed to handle this request. Quote the request id when reporting it.")),
            status=500,
            content_type=PROBLEM_CONTENT_TYPE,
        )
    headers = {k: v for k, v in response.items()}
    if isinstance(exc, exceptions.ValidationError):
        body = problem(400, _("The request has invalid fields."), errors=_flatten(exc.detail))
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        body = problem(response.status_code, str(detail))
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        body["retry_after"] = int(exc.wait)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    for key, value in headers.items():
        response[key] = value
    return response


def persist_denial(exc: BaseException) -> None:
    """A policy denial recorded inside a transaction that then rolled back is written
    again here, at the edge, once the transaction is gone (through the governance port,
    which apps.policies fills)."""
    governance.persist_denial(exc)


def wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return request.path.startswith("/api/") or "json" in accept and "html" not in accept


def error_page(request: HttpRequest, status_code: int, detail: str, *, title: str | None = None) -> HttpResponse:
    """The error as a page (or a problem for the API), in the request's language: refusals
    made before LocaleMiddleware ran (an unknown host, a suspended tenant) pass lazy texts,
    rendered here in the language the browser asks for."""
    if getattr(request, "LANGUAGE_CODE", None) is None:
        with translation.override(translation.get_language_from_request(request)):
            return _error_page(request, status_code, str(detail), title=str(title) if title else None)
    return _error_page(request, status_code, str(detail), title=str(title) if title else None)


def _error_page(request: HttpRequest, status_code: int, detail: str, *, title: str | None = None) -> HttpResponse:
    if wants_json(request):
        return problem_response(status_code, detail, title=title)
    context = {"status": status_code, "title": str(title or TITLES.get(status_code) or _("Error")), "detail": detail}
    try:
        return render(request, "errors/error.html", context, status=status_code)
    except Exception:  # noqa: BLE001 - an error page must never fail in turn
        logger.exception("error page %s could not be rendered", status_code)
        from django.utils.html import escape

        return HttpResponse(
            f"<!DOCTYPE html><title>{status_code}</title><h1>{status_code} {escape(context['title'])}</h1>"
            f"<p>{escape(detail)}</p><p>{escape(_('Request id'))}: {escape(request_id.get())}</p>",
            status=status_code,
        )


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 404, _("There is nothing at this address."))


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 403, _("You may not see this page."))


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 400, _("The request could not be understood."))


API_NOT_FOUND = "api-not-found"


@csrf_exempt  # it does nothing; a refusal would only hide the 404
def api_not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """Everything under /api/ that is no endpoint: a 404 problem, whatever DEBUG says.

    handler404 answers problems for /api/ too, but with DEBUG on Django answers an
    unresolved URL with its technical HTML page and never calls it; so the API's URLconf
    ends with this catch-all (`api_not_found_urls`). Because the catch-all matches every
    path, Django's APPEND_SLASH redirect (CommonMiddleware) no longer happens by itself
    under /api/: a GET or HEAD without its trailing slash is redirected here as before; any
    other method gets the problem naming the address with the slash (a redirect would turn
    it into a GET)."""
    path = request.path_info
    if settings.APPEND_SLASH and not path.endswith("/") and _is_endpoint(f"{path}/"):
        if request.method in ("GET", "HEAD"):
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
        return problem_response(
            404, _("There is no API endpoint at this address; did you mean %(path)s ?") % {"path": f"{request.path}/"}
        )
    return problem_response(404, _("There is no API endpoint at this address."))


def _is_endpoint(path: str) -> bool:
    try:
        return resolve(path).url_name != API_NOT_FOUND
    except Resolver404:
        return False


def api_not_found_urls() -> list:
    """The catch-all, last in a URLconf: every path under /api/ that nothing else took."""
    from django.urls import re_path

    return [re_path(r"^api/", api_not_found, name=API_NOT_FOUND)]


def handler500(request: HttpRequest) -> HttpResponse:
    return error_page(
        request, 500, _("The server failed to handle this request. Quote the request id when reporting it.")
    )
