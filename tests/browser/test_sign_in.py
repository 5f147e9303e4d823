import pytest

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct-horse-battery-staple"


@pytest.mark.parametrize(("locale", "signed_in_text"), [("en-GB", "Queue"), ("pl-PL", "Kolejka")])
def test_agent_signs_in_and_out_in_a_real_browser(live_url, page_factory, locale, signed_in_text):
    page = page_factory(locale=locale)
    base = live_url.format(slug="alpha")
    page.goto(base + "/")
    assert "/accounts/login/" in page.url
    screenshot(page, f"login-{locale}")
    page.fill("input[name=login]", "agent@alpha.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(base + "/desk/")  # agents land on their queue
    assert signed_in_text in page.text_content("h1")
    screenshot(page, f"home-{locale}")


def test_wrong_password_shows_a_form_error(live_url, page_factory):
    page = page_factory()
    page.goto(live_url.format(slug="alpha") + "/accounts/login/")
    page.fill("input[name=login]", "agent@alpha.test")
    page.fill("input[name=password]", "not-the-password")
    page.click("main button[type=submit]")
    assert "not correct" in page.text_content("main form").lower()


def test_narrow_screen_has_no_horizontal_scroll(live_url, page_factory):
    page = page_factory(width=375, height=740)
    page.goto(live_url.format(slug="alpha") + "/accounts/login/")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    screenshot(page, "login-375px")
    assert overflow <= 0
