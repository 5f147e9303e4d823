"""The Content-Security-Policy in a real browser: the portal triggers no violation at all,
Django admin and the API docs (Swagger UI, Redoc) still work under their policies."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_portal_flows import (  # noqa: F401  (fixtures)
    PASSWORD,
    REQUESTERS,
    TEXT,
    alpha,
    conversation_ticket,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# securitypolicyviolation events, kept across navigations (added through the DevTools
# protocol, so the policy under test does not apply to this script).
RECORDER = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.__warden_csp && window.__warden_csp(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} `
    + `at ${e.sourceFile || document.location.pathname}:${e.lineNumber} (${(e.sample || '').slice(0, 60)})`);
});
"""


def recording_page(page_factory, locale="en-GB"):
    page = page_factory(locale=locale)
    violations: list[str] = []
    page.expose_binding("__warden_csp", lambda source, text: violations.append(text))
    page.add_init_script(RECORDER)
    return page, violations


@pytest.mark.parametrize("locale", ["en-GB", "pl-PL"])
def test_the_portal_causes_no_csp_violation(live_url, page_factory, conversation_ticket, locale):  # noqa: F811
    number, _marker = conversation_ticket(REQUESTERS[locale])
    page, violations = recording_page(page_factory, locale)
    base = live_url.format(slug="alpha")
    sign_in(page, base, REQUESTERS[locale])
    page.goto(f"{base}/portal/tickets/{number}/")
    page.get_by_label(TEXT[locale]["reply"]).fill("Any news?")
    page.get_by_role("button", name=TEXT[locale]["send_reply"]).click()
    page.locator("#conversation").get_by_text(TEXT[locale]["reply_sent"]).wait_for()
    page.goto(f"{base}/portal/new/")
    page.goto(f"{base}/portal/?show=all")
    assert page.evaluate("typeof window.htmx") == "object"  # the vendored htmx loaded under the policy
    assert violations == []


def test_django_admin_works_under_the_policy(live_url, page_factory):
    page, violations = recording_page(page_factory)
    base = live_url.format(slug="alpha")
    sign_in(page, base, "admin@alpha.test", "/admin/")
    page.goto(f"{base}/admin/accounts/user/")
    page.locator("#action-toggle").check()  # admin's actions.js ran: every row is selected
    assert page.locator("tr.selected").count() >= 1
    page.goto(f"{base}/admin/accounts/user/add/")
    screenshot(page, "csp-admin-user-add")
    script_violations = [v for v in violations if v.startswith("script-src")]
    assert script_violations == []


@pytest.mark.parametrize(("path", "ready"), [("/api/v1/docs/", ".swagger-ui .info .title"),
                                             ("/api/v1/redoc/", ".api-info h1, [role=navigation], .menu-content")])
def test_the_api_docs_work_under_their_policy(live_url, page_factory, path, ready):
    page, violations = recording_page(page_factory)
    base = live_url.format(slug="alpha")
    sign_in(page, base, "agent@alpha.test", path)
    page.locator(ready).first.wait_for(timeout=20_000)
    assert "Warden API" in page.locator("body").inner_text()
    screenshot(page, "csp-api-docs" if "docs" in path else "csp-api-redoc")
    assert [v for v in violations if v.startswith(("script-src", "worker-src"))] == []
