"""The URL check of an agent-routed connector (pure, no DNS, no socket).

Warden never connects to an agent-routed target: the customer's agent does, from inside
the customer's network, where the host is internal by definition. So the public-address
rule of the SSRF guard (apps/connectors/guard.py) does not apply here, and neither does
the port rule (internal services often listen on 8443). Everything else does:

* `https` only (the agent refuses anything else too);
* no user-info (`https://a@b`), and a host name, not an IP literal in any spelling;
* the host in the allow-list: the kind's own hosts and the tenant's admin-verified
  custom domains;
* redirects are never followed (the agent returns a 3xx as it is; the client refuses it).

The agent checks the host and port once more against its own allow-list, which the
customer configures: a call needs both keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from ..guard import Target, UrlRefused, parse


def parse_agent_url(url: str, *, allowed_hosts: Iterable[str]) -> Target:
    """The `Target` of an agent-routed URL, or UrlRefused."""
    if not isinstance(url, str) or not url:
        raise UrlRefused("malformed", "The URL is empty.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("malformed", "The URL cannot be read (check the host and port).") from None
    if parts.scheme.lower() != "https":
        raise UrlRefused("scheme", "Only https:// URLs are allowed.")
    if "@" in parts.netloc:
        raise UrlRefused("userinfo", "A user name or password in the URL is not allowed.")
    if port == 0:
        raise UrlRefused("port", "The port is not valid.")
    # The SSRF guard's syntax and allow-list checks, on the URL without its port.
    netloc = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    target = parse(parts._replace(netloc=netloc).geturl(), allowed_hosts=allowed_hosts, allow_loopback=False)
    return Target(scheme="https", host=target.host, port=443 if port is None else port, path=target.path)
