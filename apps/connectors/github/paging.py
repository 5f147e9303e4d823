"""GitHub's pagination: the `Link` header's relations. Pure.

    <https://api.github.com/repos/o/r/issues?page=2&per_page=100>; rel="next", <...>; rel="last"
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_PART = re.compile(r'<([^>]*)>\s*;\s*rel="([^"]+)"')


def links(header: str | None) -> dict[str, str]:
    """rel -> URL, for every relation the header names."""
    found: dict[str, str] = {}
    for url, rels in _PART.findall(header or ""):
        for rel in rels.split():
            found.setdefault(rel, url)
    return found


def next_path(header: str | None, *, base_url: str) -> str | None:
    """The next page as a path for the connector's client (relative to `base_url`), or
    None when there is none. A next page on another host or outside the base URL's path
    is not followed: the client only ever calls the connector's own base URL, so a Link
    header cannot send the token elsewhere."""
    url = links(header).get("next")
    if not url:
        return None
    parts, base = urlsplit(url), urlsplit(base_url)
    if (parts.scheme, parts.netloc.lower()) != (base.scheme, base.netloc.lower()):
        return None
    prefix = base.path.rstrip("/")
    if not parts.path.startswith(prefix + "/"):
        return None
    path = parts.path[len(prefix):]
    return path + (f"?{parts.query}" if parts.query else "")
