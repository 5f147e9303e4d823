"""Markdown -> HTML -> nh3 allow-list. The only way ticket text becomes HTML.

* Raw HTML inside the Markdown is not passed through: it is shown as text.
* The result is cleaned by nh3 with a small allow-list (no images, no styles, no
  scripts, http/https/mailto links only, every link `rel="noopener nofollow"`).
* `sanitize_html()` re-cleans stored HTML on output, so a row changed behind our back
  (SQL, an old renderer) still renders inert.
"""

from __future__ import annotations

import threading

import markdown as md_lib
import nh3

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th",
        "thead", "tr", "ul",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener nofollow"
EXTENSIONS = ["fenced_code", "tables", "sane_lists"]

_local = threading.local()


def _renderer() -> md_lib.Markdown:
    renderer = getattr(_local, "renderer", None)
    if renderer is None:
        renderer = md_lib.Markdown(extensions=EXTENSIONS, output_format="html")
        # Raw HTML becomes text (escaped), never markup.
        renderer.preprocessors.deregister("html_block")
        renderer.inlinePatterns.deregister("html")
        _local.renderer = renderer
    return renderer


def sanitize_html(html: str) -> str:
    """nh3 with the allow-list above."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    """Sanitised HTML for Markdown `text` (empty string for empty text)."""
    if not text or not text.strip():
        return ""
    renderer = _renderer()
    try:
        html = renderer.convert(text)
    finally:
        renderer.reset()
    return sanitize_html(html)
