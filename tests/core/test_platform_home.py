"""The platform host's home page names real addresses: the pattern of an organisation's
address and the platform administration, from WARDEN_BASE_DOMAIN and WARDEN_PUBLIC_PORT
(it used to show "https://./.": the placeholders were written as HTML tags)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test import Client


class _Text(HTMLParser):
    """The text a browser shows, and the links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "select"):
            self.skip += 1
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "select"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())


def _page(**headers) -> _Text:
    connection.set_schema_to_public()
    response = Client(HTTP_HOST="localhost").get("/", HTTP_ACCEPT="text/html", **headers)
    assert response.status_code == 200
    parsed = _Text()
    parsed.feed(response.content.decode())
    return parsed


@pytest.mark.parametrize(("port", "suffix"), [("8000", ":8000"), ("", "")])
def test_the_platform_home_shows_real_addresses(db, settings, port, suffix):
    settings.WARDEN_PUBLIC_PORT = port
    page = _page()
    assert "./." not in page.text
    assert f"http://slug.localhost{suffix}/" in page.text  # <var>slug</var>: a placeholder, shown as such
    assert f"http://localhost{suffix}/admin/" in page.text
    assert "/admin/" in page.links


def test_the_addresses_follow_the_scheme_the_visitor_used(db, settings):
    settings.WARDEN_PUBLIC_PORT = ""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    page = _page(HTTP_X_FORWARDED_PROTO="https")
    assert "https://slug.localhost/" in page.text
    assert "https://localhost/admin/" in page.text
