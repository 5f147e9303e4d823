"""No critical or serious axe-core violation on the portal's pages, in English and Polish,
and the keyboard basics: the skip link comes first and moves focus to the content."""

from __future__ import annotations

import pytest

from tests.browser.axe import assert_no_serious_violations
from tests.browser.conftest import screenshot
from tests.browser.test_portal_flows import (  # noqa: F401  (fixtures)
    REQUESTERS,
    TEXT,
    alpha,
    conversation_ticket,
    resolved_ticket,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LOCALES = ["en-GB", "pl-PL"]


@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("locale", LOCALES)
def test_portal_pages_have_no_serious_violations(
    live_url, page_factory, conversation_ticket, resolved_ticket, locale, width  # noqa: F811
):
    email = REQUESTERS[locale]
    number, _marker = conversation_ticket(email)
    resolved = resolved_ticket(email)
    page = page_factory(locale=locale, width=width)
    base = live_url.format(slug="alpha")
    sign_in(page, base, email)
    label = f"({locale}, {width}px)"
    assert_no_serious_violations(page, context=f"portal list {label}")

    page.goto(f"{base}/portal/tickets/{number}/")
    assert_no_serious_violations(page, context=f"portal detail {label}")

    page.goto(f"{base}/portal/tickets/{resolved}/")
    page.get_by_text(TEXT[locale]["reopen_open"]).click()
    page.get_by_role("button", name=TEXT[locale]["reopen"]).click()
    page.locator("[data-error-summary]").wait_for()
    assert_no_serious_violations(page, context=f"portal detail, reopen error {label}")

    page.goto(f"{base}/portal/new/")
    assert_no_serious_violations(page, context=f"portal submit {label}")
    page.get_by_role("button", name=TEXT[locale]["send"]).click()  # empty: errors swapped in by htmx
    page.locator("[data-error-summary]").wait_for()
    page.wait_for_function("() => document.activeElement && document.activeElement.hasAttribute('data-error-summary')")
    assert_no_serious_violations(page, context=f"portal submit with errors {label}")


def test_the_skip_link_is_the_first_stop_and_reaches_the_content(live_url, page_factory):
    page = page_factory()
    base = live_url.format(slug="alpha")
    sign_in(page, base, REQUESTERS["en-GB"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.evaluate("getComputedStyle(document.activeElement).left") != "-9999px"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("!!document.activeElement.closest('main')")


def test_focus_is_always_visible_in_the_header(live_url, page_factory):
    """Every focusable element of the top bar gets an outline in the bar's text colour."""
    page = page_factory()
    base = live_url.format(slug="alpha")
    sign_in(page, base, REQUESTERS["en-GB"])
    page.keyboard.press("Tab")  # skip link
    for _ in range(6):
        page.keyboard.press("Tab")
        style = page.evaluate(
            "(() => { const e = document.activeElement; if (!e.closest('.topbar')) return null;"
            " const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth, s.outlineColor]; })()"
        )
        if style is None:
            break
        assert style[0] != "none", style
        assert style[1] != "0px", style


def test_the_axe_helper_fails_on_a_serious_violation(live_url, page_factory):
    """The check itself: a button without a name and low-contrast text must be reported."""
    page = page_factory()
    page.goto(live_url.format(slug="alpha") + "/accounts/login/")
    assert_no_serious_violations(page, context="sign-in page")
    page.evaluate(
        """() => {
            const main = document.querySelector('main');
            main.insertAdjacentHTML('beforeend', '<button id="nameless"></button><p class="grey">faint text</p>');
            main.querySelector('.grey').setAttribute('hidden', '');
            main.querySelector('.grey').removeAttribute('hidden');
            main.querySelector('.grey').style.color = '#cccccc';
        }"""
    )
    with pytest.raises(AssertionError) as failure:
        assert_no_serious_violations(page, context="broken page")
    report = str(failure.value)
    assert "on broken page" in report
    assert "button-name" in report
    assert "#nameless" in report
    assert "color-contrast" in report


@pytest.fixture
def light_brand(django_db_blocker):
    """Tenant alpha with a pale brand colour (white text on it would be 1.4:1), restored after."""
    from django.db import connection

    from apps.tenants.models import Tenant

    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        before = Tenant.objects.get(slug="alpha").primary_colour
        Tenant.objects.filter(slug="alpha").update(primary_colour="#ffd700")
        connection.close()
    try:
        yield "#ffd700"
    finally:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()
            Tenant.objects.filter(slug="alpha").update(primary_colour=before)
            connection.close()


@pytest.mark.parametrize("locale", LOCALES)
def test_a_pale_brand_colour_still_meets_the_contrast_minimum(live_url, page_factory, light_brand, locale):
    page = page_factory(locale=locale)
    base = live_url.format(slug="alpha")
    sign_in(page, base, REQUESTERS[locale], "/portal/new/")
    header = page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor")
    assert header == "rgb(255, 215, 0)"  # the tenant's own colour stays in the header
    assert_no_serious_violations(page, context=f"portal submit with a pale brand colour ({locale})")
    screenshot(page, f"portal-new-pale-brand-{locale}")
