"""Content-Security-Policy with a fresh nonce per request (docs/portal.md, "CSP").

`CSPMiddleware` sets `request.csp_nonce` before the view runs and adds the header to
every response that does not already carry one (a view with stricter needs, like the
attachment download's `default-src 'none'; sandbox`, keeps its own):

    default-src 'self'; script-src 'self' 'nonce-…'; style-src 'self' 'nonce-…';
    img-src 'self' data: https:; object-src 'none'; base-uri 'self';
    frame-ancestors 'none'; form-action 'self'

Our templates never use inline event handlers, `style=""` attributes or inline scripts;
the only inline element is base.html's `<style nonce>` with the tenant's colours.

Third-party pages we serve but do not template ourselves (the API docs of
drf-spectacular: Swagger UI and Redoc) carry inline `<script>` blocks and inject styles
at run time. For the path prefixes in WARDEN_CSP_THIRD_PARTY_PATHS the policy is
relaxed in exactly two ways, and scripts stay strict:

* each inline `<script>` of the rendered page is allowed by its SHA-256 hash (computed
  from the response body: a script the server did not send cannot run);
* `style-src 'self' 'unsafe-inline'` and `worker-src 'self' blob:` (Redoc builds its
  search worker from a blob).

and tightened in one: `img-src 'self' data:`. The docs load nothing from outside (their
files come from drf-spectacular-sidecar); Redoc's bundle still shows Redocly's logo from
a CDN, which the browser then never fetches (the image hides itself when it fails).

Settings:
    WARDEN_CSP_EXTRA            {directive: [sources]} added to the default policy
    WARDEN_CSP_REPORT_URI       adds `report-uri` (empty: none)
    WARDEN_CSP_REPORT_ONLY      send Content-Security-Policy-Report-Only instead
    WARDEN_CSP_THIRD_PARTY_PATHS  path prefixes of the relaxed policy above
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"
REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"
NONCE = "{nonce}"

DEFAULT_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'", NONCE),
    "style-src": ("'self'", NONCE),
    "img-src": ("'self'", "data:", "https:"),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "frame-ancestors": ("'none'",),
    "form-action": ("'self'",),
}
THIRD_PARTY_PATHS = ("/api/v1/docs/", "/api/v1/redoc/")

_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


def make_nonce() -> str:
    """128 bits from the OS's CSPRNG, URL-safe base64 (valid in a CSP source expression)."""
    return secrets.token_urlsafe(16)


def source_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def inline_script_hashes(html: str) -> list[str]:
    """`'sha256-…'` sources for every inline <script> of `html`, in order, without repeats."""
    return list(dict.fromkeys(source_hash(body) for body in _INLINE_SCRIPT.findall(html)))


def build_policy(
    nonce: str,
    *,
    third_party: bool = False,
    script_hashes: Iterable[str] = (),
    extra: dict[str, Iterable[str]] | None = None,
    report_uri: str = "",
) -> str:
    """The header value. `third_party` gives the relaxed policy described above."""
    policy: dict[str, list[str]] = {name: list(sources) for name, sources in DEFAULT_POLICY.items()}
    for name, sources in (extra or {}).items():
        policy.setdefault(name, [])
        policy[name] += [s for s in sources if s not in policy[name]]
    if third_party:
        policy["script-src"] = ["'self'", *script_hashes]
        policy["style-src"] = ["'self'", "'unsafe-inline'"]
        policy["worker-src"] = ["'self'", "blob:"]
        policy["img-src"] = ["'self'", "data:"]
    parts = []
    for name, sources in policy.items():
        values = [f"'nonce-{nonce}'" if s == NONCE else s for s in sources]
        parts.append(" ".join([name, *values]))
    if report_uri:
        parts.append(f"report-uri {report_uri}")
    return "; ".join(parts)


def _is_html(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().lower() == "text/html"


class CSPMiddleware:
    """Per-request nonce in `request.csp_nonce` and the Content-Security-Policy header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_nonce = make_nonce()
        response = self.get_response(request)
        report_only = bool(getattr(settings, "WARDEN_CSP_REPORT_ONLY", False))
        header = REPORT_ONLY_HEADER if report_only else HEADER
        if HEADER in response or REPORT_ONLY_HEADER in response:
            return response
        prefixes = tuple(getattr(settings, "WARDEN_CSP_THIRD_PARTY_PATHS", THIRD_PARTY_PATHS))
        third_party = bool(prefixes) and request.path.startswith(prefixes)
        hashes: list[str] = []
        if third_party and _is_html(response) and not response.streaming:
            hashes = inline_script_hashes(response.content.decode(response.charset or "utf-8", errors="replace"))
        response[header] = build_policy(
            request.csp_nonce,
            third_party=third_party,
            script_hashes=hashes,
            extra=getattr(settings, "WARDEN_CSP_EXTRA", None),
            report_uri=getattr(settings, "WARDEN_CSP_REPORT_URI", ""),
        )
        return response
