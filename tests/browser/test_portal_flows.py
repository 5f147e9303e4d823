"""The requester portal in a real browser (gunicorn + Chromium): submit with an upload and
its progress, follow the public conversation, reply, reopen. Screenshots of every page in
English and Polish go to test-artifacts/screenshots/portal-*.png."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct-horse-battery-staple"
LOCALES = ["en-GB", "pl-PL"]
# One requester per locale: the comment cooldown is per user, and both runs follow each other.
REQUESTERS = {"en-GB": "requester@alpha.test", "pl-PL": "requester2@alpha.test"}
TEXT = {
    "en-GB": {
        "new": "New request", "send": "Send request", "sent": "was sent", "impact": "My team", "urgency": "I cannot work",
        "summary": "Summary", "details": "Details", "files": "Attachments", "reply": "Your reply", "send_reply": "Send reply",
        "reply_sent": "Your reply was sent.", "reopen_open": "Not solved? Reopen this request", "reopen": "Reopen request",
        "reason": "Why is the problem not solved?", "need_reason": "Please give a reason.",
        "reopened": "Your request was reopened",
        "open": "Open", "support": "Support team", "my": "My requests",
    },
    "pl-PL": {
        "new": "Nowe zgłoszenie", "send": "Wyślij zgłoszenie", "sent": "zostało wysłane", "impact": "Mój zespół",
        "urgency": "Nie mogę pracować", "summary": "Podsumowanie", "details": "Szczegóły", "files": "Załączniki",
        "reply": "Twoja odpowiedź", "send_reply": "Wyślij odpowiedź", "reply_sent": "Twoja odpowiedź została wysłana.",
        "reopen_open": "Nie rozwiązano? Otwórz zgłoszenie ponownie", "reopen": "Otwórz ponownie",
        "reason": "Dlaczego problem nie został rozwiązany?", "need_reason": "Podaj powód.",
        "reopened": "Zgłoszenie zostało ponownie otwarte", "open": "Otwarte", "support": "Zespół wsparcia",
        "my": "Moje zgłoszenia",
    },
}

# Records what the page's progress bar showed, across the navigation that follows the upload
# (init scripts run through the DevTools protocol, so the page's CSP does not apply to them).
PROGRESS_RECORDER = """
(() => {
  const seen = () => {
    const box = document.querySelector('[data-upload-progress]');
    if (!box) return;
    const bar = box.querySelector('progress');
    new MutationObserver(() => {
      window.__warden_progress && window.__warden_progress(box.hidden, Number(bar.value));
    }).observe(bar, {attributes: true, childList: true, characterData: true, subtree: true});
    new MutationObserver(() => {
      window.__warden_progress && window.__warden_progress(box.hidden, Number(bar.value));
    }).observe(box, {attributes: true});
  };
  document.addEventListener('DOMContentLoaded', seen);
})();
"""


def sign_in(page, base: str, email: str, next_path: str = "/portal/") -> None:
    page.goto(f"{base}/accounts/login/?next={next_path}")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base + next_path) + r"$"))


@pytest.fixture
def alpha(django_db_blocker, settings):
    """Run service calls against the committed test database, in tenant alpha's schema."""
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 0  # this process only, not the live server

    def call(fn):
        with django_db_blocker.unblock():
            try:
                with schema_context("t_alpha"):
                    return fn()
            finally:
                connection.close()  # nothing left open on the test database at teardown

    return call


@pytest.fixture
def conversation_ticket(alpha):
    """`conversation_ticket(email)`: a ticket of that requester with an agent's public reply
    and an internal note (both through the services)."""

    def make(email: str):
        def build():
            from apps.accounts.models import User
            from apps.tickets import services

            requester = User.objects.get(email=email)
            agent = User.objects.get(email="agent@alpha.test")
            marker = uuid.uuid4().hex[:8]
            ticket = services.ticket_create(actor=requester, title=f"Laptop fan is loud {marker}",
                                            description="It sounds like a **jet engine**.")
            services.comment_add(actor=agent, ticket=ticket, body=f"Public answer {marker}: we ordered a new fan.")
            services.comment_add(actor=agent, ticket=ticket, body=f"Internal note {marker}: warranty expired.",
                                 internal=True)
            return ticket.number, marker

        return alpha(build)

    return make


@pytest.fixture
def resolved_ticket(alpha):
    def make(email: str):
        def build():
            from apps.accounts.models import User
            from apps.tickets import services

            requester = User.objects.get(email=email)
            agent = User.objects.get(email="agent@alpha.test")
            ticket = services.ticket_create(actor=requester, title=f"Cannot print PDFs {uuid.uuid4().hex[:6]}")
            services.comment_add(actor=agent, ticket=ticket, body="Updated the driver.")
            services.ticket_transition(actor=agent, ticket=ticket, to="resolved", resolution_code="fixed",
                                       resolution_note="Installed the **new driver**.")
            return ticket.number

        return alpha(build)

    return make


@pytest.mark.parametrize("locale", LOCALES)
def test_requester_submits_a_ticket_with_an_attachment_and_sees_the_progress(live_url, page_factory, locale):
    t = TEXT[locale]
    page = page_factory(locale=locale)
    shown: list[tuple[bool, float]] = []
    page.expose_binding("__warden_progress", lambda source, hidden, value: shown.append((hidden, value)))
    page.add_init_script(PROGRESS_RECORDER)
    base = live_url.format(slug="alpha")
    sign_in(page, base, REQUESTERS[locale], "/portal/new/")
    assert page.locator("html").get_attribute("lang") == locale[:2]
    assert page.locator("h1").inner_text() == t["new"]
    screenshot(page, f"portal-new-{locale}")

    title = f"VPN drops every hour {uuid.uuid4().hex[:6]}"
    page.get_by_label(t["summary"]).fill(title)
    page.get_by_label(t["details"]).fill("Since Monday, on Wi-Fi and cable.")
    page.get_by_label(t["impact"]).check()
    page.get_by_label(t["urgency"]).check()
    log = ("12:00:01 vpn: tunnel reset by peer\n" * 60_000).encode()  # ~2 MB: several progress events
    page.get_by_label(t["files"]).set_input_files({"name": "vpn-log.txt", "mimeType": "text/plain", "buffer": log})
    page.get_by_role("button", name=t["send"]).click()

    page.wait_for_url(re.compile(r"/portal/tickets/\d+/$"))
    assert title in page.locator("h1").inner_text()
    assert t["sent"] in page.locator(".messages").inner_text()
    assert page.get_by_role("link", name="vpn-log.txt").is_visible()
    assert t["impact"] in page.locator(".facts").inner_text()
    assert any(not hidden for hidden, _ in shown), f"the progress bar never showed: {shown}"
    assert max(value for _, value in shown) == 100, shown
    screenshot(page, f"portal-submitted-{locale}")


@pytest.mark.parametrize("locale", LOCALES)
def test_requester_sees_only_the_public_reply_and_answers(live_url, page_factory, conversation_ticket, locale):
    t = TEXT[locale]
    number, marker = conversation_ticket(REQUESTERS[locale])
    page = page_factory(locale=locale)
    base = live_url.format(slug="alpha")
    sign_in(page, base, REQUESTERS[locale])
    assert f"#{number}" in page.locator("main").inner_text()
    screenshot(page, f"portal-list-{locale}")

    page.get_by_role("link", name=re.compile(f"Laptop fan is loud {marker}")).click()
    page.wait_for_url(f"{base}/portal/tickets/{number}/")
    html = page.content()
    assert f"Public answer {marker}" in html
    assert f"Internal note {marker}" not in html
    assert "warranty" not in html
    assert t["support"] in page.locator("#conversation").inner_text()
    screenshot(page, f"portal-detail-{locale}")

    page.get_by_label(t["reply"]).fill("Thanks, when will it arrive?")
    page.get_by_role("button", name=t["send_reply"]).click()  # htmx: the conversation is swapped in place
    page.locator("#conversation").get_by_text(t["reply_sent"]).wait_for()
    assert page.url == f"{base}/portal/tickets/{number}/"
    assert page.locator("#conversation .comment").count() == 2
    page.wait_for_function("document.activeElement && document.activeElement.id === 'reply_body'")
    assert f"Internal note {marker}" not in page.content()
    screenshot(page, f"portal-replied-{locale}")


@pytest.mark.parametrize("locale", LOCALES)
def test_requester_reopens_a_resolved_ticket_with_a_reason(live_url, page_factory, resolved_ticket, locale):
    t = TEXT[locale]
    number = resolved_ticket(REQUESTERS[locale])
    page = page_factory(locale=locale)
    base = live_url.format(slug="alpha")
    sign_in(page, base, REQUESTERS[locale], f"/portal/tickets/{number}/")
    assert "new driver" in page.locator(".resolution").inner_text()
    screenshot(page, f"portal-resolved-{locale}")

    page.get_by_text(t["reopen_open"]).click()
    page.get_by_role("button", name=t["reopen"]).click()  # no reason
    summary = page.locator("[data-error-summary]")
    summary.wait_for()
    assert t["need_reason"] in summary.inner_text()
    assert page.evaluate("document.activeElement.hasAttribute('data-error-summary')")
    assert page.get_by_label(t["reason"]).get_attribute("aria-invalid") == "true"
    screenshot(page, f"portal-reopen-error-{locale}")

    page.get_by_label(t["reason"]).fill("It still prints blank pages.")
    page.get_by_role("button", name=t["reopen"]).click()
    page.wait_for_url(f"{base}/portal/tickets/{number}/")
    assert t["reopened"] in page.locator(".messages").inner_text()
    assert page.locator("#ticket-status").inner_text() == t["open"]
    screenshot(page, f"portal-reopened-{locale}")


@pytest.mark.parametrize("locale", LOCALES)
def test_portal_pages_at_375px(live_url, page_factory, conversation_ticket, locale):
    number, _marker = conversation_ticket(REQUESTERS[locale])
    page = page_factory(locale=locale, width=375, height=740)
    base = live_url.format(slug="alpha")
    sign_in(page, base, REQUESTERS[locale])
    for name, path in (("list", "/portal/"), ("new", "/portal/new/"), ("detail", f"/portal/tickets/{number}/")):
        page.goto(base + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        screenshot(page, f"portal-{name}-375px-{locale}")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 375px"


def test_submitting_works_without_javascript(live_url, browser):
    """A plain multipart POST: no htmx, no progress bar, the same result."""
    context = browser.new_context(locale="en-GB", java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        base = live_url.format(slug="alpha")
        sign_in(page, base, REQUESTERS["en-GB"], "/portal/new/")
        t = TEXT["en-GB"]
        page.get_by_role("button", name=t["send"]).click()  # nothing filled in: the page comes back with errors
        assert "Please write a short summary." in page.locator("[data-error-summary]").inner_text()
        title = f"Webcam not detected {uuid.uuid4().hex[:6]}"
        page.get_by_label(t["summary"]).fill(title)
        page.get_by_label(t["files"]).set_input_files(
            {"name": "dxdiag.txt", "mimeType": "text/plain", "buffer": b"Camera: none found\n"}
        )
        page.get_by_role("button", name=t["send"]).click()
        page.wait_for_url(re.compile(r"/portal/tickets/\d+/$"))
        assert title in page.locator("h1").inner_text()
        assert page.get_by_role("link", name="dxdiag.txt").is_visible()
        screenshot(page, "portal-submitted-no-js")
    finally:
        context.close()
