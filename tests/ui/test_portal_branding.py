"""Tenant branding: the brand colour is kept where it reads, and replaced by an accessible
shade or text colour where it would not (WCAG 2.1 AA, 4.5:1 for text)."""

from __future__ import annotations

import random
import re

import pytest
from django.test import Client

from apps.portal import branding
from apps.portal.branding import AA_TEXT, DARK, PAGE, WHITE, contrast, theme_for


def test_contrast_matches_the_wcag_reference_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the classic AA grey


@pytest.mark.parametrize("colour", ["#1f4f8f", "#000000", "#0b5394", "#7a1fa2"])
def test_a_dark_brand_colour_is_used_as_it_is(colour):
    theme = theme_for(colour)
    assert (theme.header_bg, theme.header_fg, theme.strong, theme.adjusted) == (colour, WHITE, colour, False)


def test_a_light_brand_colour_keeps_the_header_with_dark_text_and_darkens_links():
    theme = theme_for("#FFD700")  # gold: white text would be 1.4:1
    assert theme.colour == "#ffd700"
    assert (theme.header_bg, theme.header_fg) == ("#ffd700", DARK)
    assert theme.adjusted
    assert contrast(theme.strong, PAGE) >= AA_TEXT
    r, g, b = (int(theme.strong[i:i + 2], 16) for i in (1, 3, 5))
    assert r > b
    assert g > b


def test_a_mid_tone_colour_gets_a_darker_header():
    theme = theme_for("#808080")  # neither white (3.9:1) nor near-black text (4.2:1) reads on it
    assert theme.header_contrast >= AA_TEXT
    assert contrast(theme.strong, WHITE) >= AA_TEXT


@pytest.mark.parametrize("seed", range(5))
def test_every_colour_ends_up_readable(seed):
    rng = random.Random(seed)
    for _ in range(400):
        colour = "#" + "".join(f"{rng.randrange(256):02x}" for _ in range(3))
        theme = theme_for(colour)
        assert theme.header_contrast >= AA_TEXT, colour
        assert contrast(theme.strong, PAGE) >= AA_TEXT, colour
        assert contrast(theme.strong, theme.on_strong) >= AA_TEXT, colour


@pytest.mark.parametrize("bad", [None, "", "red", "#fff", "#12345g", "#1f4f8f; } body { x", "javascript:1"])
def test_anything_but_a_hex_colour_falls_back_to_the_default(bad):
    assert theme_for(bad).colour == branding.DEFAULT_COLOUR


def test_pages_carry_the_accessible_colours_of_the_tenant(tenant):
    tenant.primary_colour = "#ffd700"
    tenant.save(update_fields=["primary_colour"])
    html = Client(HTTP_HOST="alpha.localhost").get("/accounts/login/").content.decode()
    style = re.search(r"<style nonce=\"[^\"]+\">(.*?)</style>", html, re.S).group(1)
    theme = theme_for("#ffd700")
    assert f"--header-bg: {theme.header_bg};" in style
    assert f"--header-fg: {DARK};" in style
    assert f"--brand: {theme.strong};" in style


# --- The tenant's brand on the desk and the portal ----------------------------------------------

LOGO = "https://cdn.example.com/acme/logo.png"


@pytest.fixture
def branded(tenant):
    """Tenant alpha with its own display name, logo and a colour that needs no adjusting."""
    tenant.display_name = "Acme <Support> & Co"
    tenant.logo = LOGO
    tenant.primary_colour = "#7a1fa2"
    tenant.save(update_fields=["display_name", "logo", "primary_colour"])
    return tenant


def _header(html: str) -> str:
    return re.search(r'<header class="topbar">.*?</header>', html, re.S).group(0)


@pytest.fixture
def branded_ticket(branded, requester_user, agent_user):
    from apps.tickets import services

    return services.ticket_create(actor=agent_user, requester=requester_user, title="Badge reader")


def _pages(web_as, users, ticket) -> dict[str, str]:
    from django.urls import reverse

    agent, requester = web_as(users["agent"]), web_as(users["requester"])
    responses = {
        "desk queue": agent.get(reverse("desk:queue")),
        "desk ticket": agent.get(reverse("desk:ticket", args=[ticket.number])),
        "desk board": agent.get(reverse("desk:board")),
        "desk dashboard": agent.get(reverse("desk:dashboard")),
        "desk new ticket": agent.get(reverse("desk:ticket-new")),
        "portal list": requester.get(reverse("portal:list")),
        "portal new": requester.get(reverse("portal:new")),
        "portal detail": requester.get(reverse("portal:detail", args=[ticket.number])),
        "sign-in": Client(HTTP_HOST="alpha.localhost").get("/accounts/login/"),
    }
    for name, response in responses.items():
        assert response.status_code == 200, name
    return {name: response.content.decode() for name, response in responses.items()}


def test_the_tenants_name_logo_and_colour_are_on_every_desk_and_portal_page(web_as, users, branded_ticket):
    for name, html in _pages(web_as, users, branded_ticket).items():
        header = _header(html)
        brand = re.search(r'<a class="brand" href="/">(.*?)</a>', header, re.S).group(1)
        # The display name (escaped: it is data), next to a decorative logo.
        assert "<span>Acme &lt;Support&gt; &amp; Co</span>" in brand, name
        assert f'<img src="{LOGO}" alt="" height="28">' in brand, name
        assert re.search(r"<title>[^<]*· Warden</title>", html), name
        style = re.search(r"<style nonce=\"[^\"]+\">(.*?)</style>", html, re.S).group(1)
        assert "--header-bg: #7a1fa2;" in style, name
        assert "--brand: #7a1fa2;" in style, name


def test_without_a_display_name_or_logo_the_tenants_name_shows_alone(tenant, web_as, users):
    from django.urls import reverse

    tenant.display_name, tenant.logo = "", ""
    tenant.save(update_fields=["display_name", "logo"])
    for client, path in ((web_as(users["agent"]), reverse("desk:queue")), (web_as(users["requester"]), reverse("portal:list"))):
        header = _header(client.get(path).content.decode())
        assert f"<span>{tenant.name}</span>" in header
        assert "<img" not in header


def test_another_tenants_pages_carry_their_own_brand(branded, other_tenant, web_as):
    from django.db import connection

    from apps.accounts.models import User

    connection.set_tenant(other_tenant)
    try:
        beta_agent = User.objects.get(email="agent@beta.test")
        client = web_as(beta_agent, host="beta.localhost")
    finally:
        connection.set_tenant(branded)
    header = _header(client.get("/desk/").content.decode())
    assert "Acme" not in header
    assert LOGO not in header
    assert f"<span>{other_tenant.brand_name}</span>" in header
