"""The API documentation pages (Swagger UI at /api/v1/docs/, ReDoc at /api/v1/redoc/)
load nothing from outside: every script, stylesheet, font, icon and link they name is
served by Warden itself (drf-spectacular-sidecar's static files), and each of those
answers. The same pages in a real browser: tests/browser/test_api_docs_offline.py."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

HOST = "alpha.localhost"
PAGES = ["/api/v1/docs/", "/api/v1/redoc/"]
URL_ATTRIBUTES = {"src", "href", "spec-url", "action", "poster", "srcset", "data"}


class _Urls(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []  # tag, attribute, value

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value:
                values = [part.strip().split(" ")[0] for part in value.split(",")] if name == "srcset" else [value]
                self.urls.extend((tag, name, v) for v in values)


def _same_origin(url: str, page: str) -> bool:
    absolute = urlsplit(urljoin(f"http://{HOST}{page}", url))
    return absolute.scheme in ("http", "https") and absolute.netloc == HOST


@pytest.mark.parametrize("path", PAGES)
def test_the_api_docs_name_only_their_own_files(web_as, agent_user, path):
    client = web_as(agent_user)
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    parser = _Urls()
    parser.feed(html)
    assert parser.urls, html[:2000]
    foreign = [f"<{tag} {name}={value}>" for tag, name, value in parser.urls if not _same_origin(value, path)]
    assert foreign == [], foreign
    assert "//fonts.googleapis.com" not in html
    assert "//fonts.gstatic.com" not in html
    for tag, _name, value in parser.urls:
        if tag in ("script", "link") and value.startswith("/static/"):
            asset = client.get(value)
            assert asset.status_code == 200, value
            if asset.streaming:
                b"".join(asset.streaming_content)  # read (and close) the file
    assert any("/static/drf_spectacular_sidecar/" in value for _tag, _name, value in parser.urls)
    # What the bundles name at run time (ReDoc's Redocly logo on a CDN) the browser may not fetch.
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["img-src"] == "'self' data:"
    assert "https:" not in policy.get("font-src", policy["default-src"])
    assert policy["default-src"] == "'self'"
