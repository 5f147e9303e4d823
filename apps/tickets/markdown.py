"""Markdown -> HTML -> nh3 allow-list. The only way ticket text becomes HTML.

* Raw HTML inside the Markdown is not passed through: it is shown as text.
* The result is cleaned by nh3 with a small allow-list (no images, no styles, no
  scripts, http/https/mailto links only, every link `rel="noopener nofollow"`).
* `sanitize_html()` re-cleans stored HTML on output, so a row changed behind our back
  (SQL, an old renderer) still renders inert.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as etree
from typing import TYPE_CHECKING

import markdown as md_lib
import nh3
from markdown.inlinepatterns import InlineProcessor

if TYPE_CHECKING:
    from .mentions import Mention

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

# A mention link carries this class (and no other class survives the clean).
MENTION_CLASS = "mention"

_local = threading.local()


class _MentionProcessor(InlineProcessor):
    """`@token` naming a person of `md.mentions` (set per call) -> a mention link. Inline
    patterns never run inside code, so `@x` in code stays code."""

    def handleMatch(self, m, data):  # noqa: N802 - Python-Markdown's hook name
        from .mentions import clean_token

        token = clean_token(m.group(1))
        mention = getattr(self.md, "mentions", {}).get(token.lower())
        if mention is None:
            return None, None, None  # plain text
        link = etree.Element("a", {"href": f"mailto:{mention.email}", "title": mention.name, "class": MENTION_CLASS})
        link.text = f"@{token}"
        return link, m.start(0), m.start(0) + 1 + len(token)


def _renderer() -> md_lib.Markdown:
    renderer = getattr(_local, "renderer", None)
    if renderer is None:
        from .mentions import PATTERN

        renderer = md_lib.Markdown(extensions=EXTENSIONS, output_format="html")
        # Raw HTML becomes text (escaped), never markup.
        renderer.preprocessors.deregister("html_block")
        renderer.inlinePatterns.deregister("html")
        renderer.inlinePatterns.register(_MentionProcessor(PATTERN, renderer), "warden_mention", 165)
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
        tag_attribute_values={"a": {"class": {MENTION_CLASS}}},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text: str, *, mentions: dict[str, Mention] | None = None) -> str:
    """Sanitised HTML for Markdown `text` (empty string for empty text). `mentions`
    (token as written, lower case -> person, from `mentions.drawn`) become mention links."""
    if not text or not text.strip():
        return ""
    renderer = _renderer()
    renderer.mentions = mentions or {}
    try:
        html = renderer.convert(text)
    finally:
        renderer.mentions = {}
        renderer.reset()
    return sanitize_html(html)
