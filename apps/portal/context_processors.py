"""Template context shared by every page: the header navigation and the accessible
brand colours (base.html). Role decisions come from apps.accounts.permissions only.

Wire in TEMPLATES["OPTIONS"]["context_processors"]:
    "apps.portal.context_processors.ui"
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from apps.accounts import permissions

from .branding import theme_for


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool = False


def _url(name: str, fallback: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return fallback


def nav_links(request: HttpRequest) -> list[NavLink]:
    """The links of the header's main navigation for this user, in display order."""
    user = getattr(request, "user", None)
    links: list[tuple[str, str]] = []
    if permissions.is_agent(user):
        links += [
            (_("Queue"), _url("desk:queue", "/desk/")),
            (_("Board"), _url("desk:board", "/desk/board/")),
            (_("Triage"), _url("desk:triage", "/desk/triage/")),
            (_("Dashboard"), _url("desk:dashboard", "/desk/dashboard/")),
            (_("New ticket"), _url("desk:ticket-new", "/desk/tickets/new/")),
        ]
    elif permissions.is_member(user):
        links += [(_("My requests"), _url("portal:list", "/portal/")), (_("New request"), _url("portal:new", "/portal/new/"))]
    if permissions.can_use_admin_site(user):
        links.append((_("Administration"), _url("admin:index", "/admin/")))
    path = getattr(request, "path", "")
    # The current page is the link with the longest URL that is a prefix of the path.
    matches = [url for _label, url in links if path == url or (url != "/" and path.startswith(url))]
    current = max(matches, key=len) if matches else None
    return [NavLink(str(label), url, current == url) for label, url in links]


def ui(request: HttpRequest) -> dict:
    tenant = getattr(request, "tenant", None)
    colour = getattr(tenant, "primary_colour", None) if tenant is not None and not tenant.is_public else None
    return {"nav_links": nav_links(request), "theme": theme_for(colour)}
