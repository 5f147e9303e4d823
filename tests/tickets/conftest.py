"""Fixtures of the tickets tests: tickets made through the services, uploads, hosts."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def _forget_media_root() -> None:
    """Storages cache where MEDIA_ROOT pointed (apps.tenants.storage caches its per-region
    backends; TenantFileSystemStorage its `relative_media_root`, which its setting_changed
    hook does not drop): forget it so each test writes under its own tmp_path."""
    from django.core.files.storage import default_storage, storages
    from django.utils.functional import empty

    try:
        from apps.tenants import storage as tenant_storage

        tenant_storage._backend_for.cache_clear()
    except (ImportError, AttributeError):
        pass

    instances = [storages["default"]]
    if default_storage._wrapped is not empty:
        instances.append(default_storage._wrapped)
    for instance in instances:
        instance.__dict__.pop("relative_media_root", None)


@pytest.fixture(autouse=True)
def _tickets_settings(settings, tmp_path):
    """No comment cooldown unless a test asks for it; uploads under a throwaway root."""
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 0
    settings.MEDIA_ROOT = str(tmp_path / "media")
    _forget_media_root()
    yield settings
    _forget_media_root()


@pytest.fixture
def make_ticket(tenant, requester_user):
    from apps.tickets import services

    def make(requester=None, *, actor=None, **fields):
        requester = requester or requester_user
        fields.setdefault("title", "Printer on floor 2 is jammed")
        fields.setdefault("description", "It shows **E42** and beeps.")
        return services.ticket_create(actor=actor or requester, requester=requester, **fields)

    return make


@pytest.fixture
def ticket(make_ticket):
    """A ticket of requester@alpha."""
    return make_ticket()


@pytest.fixture
def other_ticket(make_ticket, requester2_user):
    """A ticket of requester2@alpha (another requester's object)."""
    return make_ticket(requester2_user, title="Someone else's laptop")


@pytest.fixture
def foreign_ticket(tenant, other_tenant):
    """A ticket in tenant beta, numbered far above anything alpha has (another tenant's object)."""
    from apps.accounts.models import User
    from apps.tickets import services
    from apps.tickets.models import TicketCounter

    connection.set_tenant(other_tenant)
    try:
        TicketCounter.objects.update(last_number=900_000)
        requester = User.objects.get(email="requester@beta.test")
        foreign = services.ticket_create(actor=requester, title="Beta's secret ticket", description="beta only")
        services.comment_add(actor=requester, ticket=foreign, body="beta comment")
    finally:
        connection.set_tenant(tenant)
    return foreign


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def png_file():
    return lambda name="screenshot.png": upload(name, PNG_1PX, "image/png")


@pytest.fixture
def bytes_io():
    return io.BytesIO


ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}


def check_inert(html: str) -> None:
    """Parse `html` like a browser would: only allow-listed tags, no event handlers, no
    style, links only to http(s)/mailto and always rel=noopener nofollow."""
    from html.parser import HTMLParser

    problems: list[str] = []

    class Checker(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag not in ALLOWED_TAGS:
                problems.append(f"tag <{tag}>")
            names = dict(attrs)
            for name, _value in attrs:
                if name.startswith("on") or name in ("style", "src", "srcdoc", "formaction"):
                    problems.append(f"attribute {name} on <{tag}>")
            if tag == "a":
                href = (names.get("href") or "").strip().lower()
                if href and not href.startswith(("http://", "https://", "mailto:")):
                    problems.append(f"href {href!r}")
                if href and set((names.get("rel") or "").split()) < {"noopener", "nofollow"}:
                    problems.append(f"rel {names.get('rel')!r}")

        handle_startendtag = handle_starttag

    Checker(convert_charrefs=True).feed(html)
    assert not problems, (problems, html)


@pytest.fixture
def assert_inert():
    return check_inert
