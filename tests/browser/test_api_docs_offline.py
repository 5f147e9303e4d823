"""The API docs in a real browser load nothing from outside: every request Swagger UI and
ReDoc make (scripts, styles, fonts, images, the schema, workers) goes to the Warden
server on 127.0.0.1; anything else is aborted and fails the test. The HTML check without a
browser: tests/api/test_docs_offline.py."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.test_portal_flows import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    host = parts.hostname or ""
    return host in ("127.0.0.1", "localhost") or host.endswith(".localhost")  # *.localhost is loopback


@pytest.mark.parametrize(("path", "ready"), [("/api/v1/docs/", ".swagger-ui .info .title"),
                                             ("/api/v1/redoc/", ".api-info h1")])
def test_the_api_docs_make_no_request_outside_the_server(live_url, page_factory, path, ready):
    page = page_factory()
    outside: list[str] = []
    seen: list[str] = []

    def route(route_, request):
        seen.append(request.url)
        if _local(request.url):
            route_.continue_()
        else:
            outside.append(request.url)
            route_.abort()

    page.context.route("**/*", route)
    base = live_url.format(slug="alpha")
    sign_in(page, base, "agent@alpha.test", path)
    page.locator(ready).first.wait_for(timeout=20_000)
    page.wait_for_load_state("networkidle")
    assert "Warden API" in page.locator("body").inner_text()
    assert outside == []
    assert any("/static/drf_spectacular_sidecar/" in url for url in seen), seen
    assert any("/api/v1/schema/" in url for url in seen), seen
