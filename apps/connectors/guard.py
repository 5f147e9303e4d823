"""The SSRF guard: which URLs a connector may call, and which address it connects to.

Pure Python, no ORM. Every tenant-supplied URL is checked twice, the same way: when it
is saved (`services.connectors`) and before every call (`client`), because DNS answers
change between the two (rebinding). A URL passes when:

* the scheme is `https` and the port 443 (written or implied);
* there is no user-info (`https://x.service-now.com@127.0.0.1` is refused, not parsed
  the way one browser or another would) and the host is a name, not an IP literal in
  any spelling (`127.0.0.1`, `[::1]`, `0x7f000001`, `2130706433`, `0177.1`);
* the name is in the allow-list: the connector kind's own hosts (`*.service-now.com`,
  `api.github.com`) and the tenant's admin-verified custom domains. `*.suffix` matches
  names ending in `.suffix` only, so `x.service-now.com.evil.net` is refused;
* every address the name resolves to is public: loopback, private, link-local,
  shared (CGNAT), multicast, reserved, unspecified, v4-mapped, 6to4, Teredo and NAT64
  addresses are refused, and so is anything else Python does not call global.

`resolve()` returns the `Endpoint` to connect to: the name (for the Host header, SNI and
certificate check) and the one validated address. The HTTP client connects to that
address, never resolving the name again, and follows no redirect.

Loopback fake services (tests, a local demo) are allowed only with `allow_loopback`
(setting WARDEN_CONNECTORS_ALLOW_LOOPBACK, which production settings refuse): then a
loopback address, `localhost`, `http` and any port are accepted, but only when every
resolved address is loopback; a private address stays refused.

The resolver is a parameter (`(host, port) -> [address, ...]`), so tests answer with
"10.0.0.5" or a public-then-private sequence without real DNS.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Resolver = Callable[[str, int], list[str]]

HTTPS_PORT = 443
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+$")
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class UrlRefused(Exception):  # noqa: N818
    """A URL or address the guard refuses. `code` is stable (tests, logs, the API);
    `message` says what to change, in English (callers translate the codes they show)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Target:
    """A URL that passed the syntax and allow-list checks."""

    scheme: str
    host: str  # lower case, IDNA-encoded; or a loopback literal in loopback mode
    port: int
    path: str  # path and query, starting with "/"

    @property
    def origin(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")

    @property
    def host_header(self) -> str:
        return self.origin.split("://", 1)[1]

    @property
    def url(self) -> str:
        return self.origin + self.path


@dataclass(frozen=True)
class Endpoint:
    """Where to connect: the target, and the validated address for its host."""

    target: Target
    address: str


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """`host` equals a pattern, or a `*.suffix` pattern covers it (a dot boundary)."""
    for pattern in patterns:
        pattern = pattern.strip().lower().rstrip(".")
        if not pattern:
            continue
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def pattern_valid(pattern: str) -> bool:
    """A domain pattern an admin may add: `name.tld` or `*.name.tld`, no IP literal."""
    pattern = (pattern or "").strip().lower()
    name = pattern[2:] if pattern.startswith("*.") else pattern
    return bool(_HOST_NAME.match(name)) and _ip_literal(name) is None and not _looks_numeric(name)


def _looks_numeric(host: str) -> bool:
    # WHATWG URL parsers read a host whose last label is numeric (or 0x-hex) as IPv4.
    return bool(_NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]))


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _looks_numeric(host) and re.fullmatch(r"[0-9a-fx.]+", host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))  # 0x7f000001, 2130706433, 0177.1, 127.1
        except OSError:
            return None
    return None


def parse(url: str, *, allowed_hosts: Iterable[str], allow_loopback: bool = False) -> Target:
    """The `Target` of `url`, or UrlRefused. No DNS, no socket."""
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise UrlRefused("malformed", "The URL is empty or too long.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch == "\\" for ch in url):
        raise UrlRefused("malformed", "The URL contains spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("malformed", "The URL cannot be read (check the host and port).") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_loopback and scheme == "http"):
        raise UrlRefused("scheme", "Only https:// URLs are allowed.")
    if "@" in parts.netloc:
        raise UrlRefused("userinfo", "A user name or password in the URL is not allowed (use the connector's credentials).")
    raw_host = (parts.hostname or "").rstrip()
    if not raw_host:
        raise UrlRefused("malformed", "The URL has no host.")
    default_port = HTTPS_PORT if scheme == "https" else 80
    port = default_port if port is None else port
    literal = _ip_literal(raw_host)
    if literal is not None:
        if not (allow_loopback and literal.is_loopback):
            raise UrlRefused("ip_literal", "Use the service's host name, not an IP address.")
        host = str(literal)
    else:
        try:
            host = raw_host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise UrlRefused("malformed", "The host name is not valid.") from None
        if not _HOST_NAME.match(host) or _looks_numeric(host):
            if not (allow_loopback and host == "localhost"):
                raise UrlRefused("malformed", "The host name is not valid.")
        elif not host_allowed(host, allowed_hosts):
            raise UrlRefused("host_not_allowed", f"{host} is not an allowed host for this connector.")
    if port != HTTPS_PORT and not allow_loopback:
        raise UrlRefused("port", "Only port 443 is allowed.")
    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, path=path)


def address_refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why `address` may not be connected to (a short reason), or None when it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "IPv4-mapped IPv6 address"
        if ip.sixtofour is not None or ip.teredo is not None or ip in _NAT64 or ip in _NAT64_LOCAL:
            return "IPv6 address embedding an IPv4 address (6to4, Teredo, NAT64)"
    if ip.is_loopback:
        return None if allow_loopback else "loopback address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.version == 4 and ip in _CGNAT:
        return "shared (CGNAT) address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_private:
        return "private address"
    if ip.is_reserved:
        return "reserved address"
    if not ip.is_global:
        return "not a public address"
    return None


def resolve(target: Target, *, resolver: Resolver, allow_loopback: bool = False) -> Endpoint:
    """Resolve the target's host once and check every answer; the endpoint to connect to."""
    literal = _ip_literal(target.host)
    if literal is not None:
        addresses = [str(literal)]
    elif allow_loopback and target.host == "localhost":
        addresses = ["127.0.0.1"]
    else:
        try:
            addresses = list(dict.fromkeys(resolver(target.host, target.port)))
        except (OSError, UnicodeError) as exc:
            raise UrlRefused("dns", f"{target.host} could not be resolved ({type(exc).__name__}).") from None
    if not addresses:
        raise UrlRefused("dns", f"{target.host} has no address.")
    for address in addresses:
        reason = address_refusal(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise UrlRefused("address", f"{target.host} resolves to a refused address ({reason}).")
    all_loopback = all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)
    if (target.scheme != "https" or target.port != HTTPS_PORT) and not (allow_loopback and all_loopback):
        raise UrlRefused("port", "Only https:// on port 443 is allowed.")
    return Endpoint(target=target, address=addresses[0].split("%", 1)[0])


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses DNS gives for `host` (the default WARDEN_CONNECTORS_RESOLVER)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
