"""The agent's configuration: command-line options, checked before anything starts.
Every problem is one line (ConfigError) and exit code 2."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from . import VERSION
from .allowlist import AllowList, AllowListError, parse_entry

TOKEN = re.compile(r"^wagent_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")
LOOPBACK_NAMES = ("localhost",)


class ConfigError(Exception):
    pass


@dataclass
class Config:
    url: str  # scheme://host[:port], no path
    scheme: str
    host: str
    port: int
    token: str
    allow: AllowList
    connect_address: str | None = None  # 127.0.0.1 for --insecure-loopback
    ca_bundle: str | None = None
    target_ca_bundle: str | None = None
    credentials: dict[str, str] = field(default_factory=dict)  # host -> Authorization header value
    resolve: dict[str, str] = field(default_factory=dict)  # host -> address
    poll_wait: int = 20
    max_calls: int = 4
    max_body_bytes: int = 1024 * 1024
    max_read_timeout: float = 60.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the usage block
        raise ConfigError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m warden_agent", description="Warden's outbound-only customer agent.")
    p.add_argument("--url", required=True, help="the organisation's Warden address, e.g. https://acme.warden.example")
    p.add_argument("--token-file", required=True, help="file holding the agent's token (mode 600)")
    p.add_argument("--allow-host", action="append", default=[], metavar="HOST[:PORT]", required=True,
                   help="a host the agent may call (repeat; *.suffix for sub-domains; port 443 unless given)")
    p.add_argument("--credentials", metavar="FILE", help="JSON file: host -> Authorization value or "
                   '{"username": ..., "password": ...} (mode 600)')
    p.add_argument("--resolve", action="append", default=[], metavar="HOST=ADDRESS",
                   help="connect to ADDRESS for HOST (a name this machine's DNS does not know)")
    p.add_argument("--ca-bundle", help="CA certificates for Warden's TLS (default: the system's)")
    p.add_argument("--target-ca-bundle", help="CA certificates for the internal hosts' TLS (default: the system's)")
    p.add_argument("--insecure-loopback", action="store_true",
                   help="allow plain http to a Warden on this machine (localhost, *.localhost, 127.0.0.1): tests only")
    p.add_argument("--poll-wait", type=int, default=20, help="seconds a poll may wait for work (1-60; default 20)")
    p.add_argument("--max-calls", type=int, default=4, help="calls taken per poll (1-10; default 4)")
    p.add_argument("--max-body-bytes", type=int, default=1024 * 1024, help="largest answer brought back")
    p.add_argument("--version", action="version", version=f"warden-agent {VERSION}")
    return p


def _private_file(path: str, what: str) -> str:
    try:
        info = os.stat(path)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path}: not a text file") from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXO):
        raise ConfigError(f"{what} {path} is readable by other users: chmod 600 it")
    return text


def _warden_url(url: str, *, insecure_loopback: bool) -> tuple[str, str, int, str | None]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ConfigError(f"--url {url!r} cannot be read") from None
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ConfigError("--url must be the organisation's address only, e.g. https://acme.warden.example")
    loopback = host in LOOPBACK_NAMES or host.endswith(".localhost") or _is_loopback(host)
    if parts.scheme == "https":
        return parts.scheme, host, port or 443, None
    if parts.scheme == "http" and insecure_loopback and loopback:
        return parts.scheme, host, port or 80, "127.0.0.1" if not _is_loopback(host) else host
    if parts.scheme == "http" and insecure_loopback:
        raise ConfigError("--insecure-loopback allows plain http to this machine only (localhost, *.localhost, "
                          "127.0.0.1)")
    raise ConfigError("--url must start with https:// (plain http only with --insecure-loopback, to this machine)")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _credentials(path: str) -> dict[str, str]:
    import base64

    try:
        data = json.loads(_private_file(path, "--credentials"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--credentials {path}: not valid JSON (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--credentials {path}: a JSON object of host -> credentials")
    out: dict[str, str] = {}
    for host, value in data.items():
        if isinstance(value, dict) and set(value) == {"username", "password"}:
            raw = f"{value['username']}:{value['password']}".encode()
            value = "Basic " + base64.b64encode(raw).decode("ascii")
        if not isinstance(value, str) or not value.strip() or any(c in value for c in "\r\n"):
            raise ConfigError(f"--credentials {path}: the value for {host!r} must be an Authorization header "
                              'value ("Bearer ...") or {"username": ..., "password": ...}')
        out[str(host).lower().rstrip(".")] = value.strip()
    return out


def load(argv: list[str] | None = None) -> Config:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    scheme, host, port, connect_address = _warden_url(args.url, insecure_loopback=args.insecure_loopback)
    token = _private_file(args.token_file, "--token-file").strip()
    if not TOKEN.match(token):
        raise ConfigError(f"--token-file {args.token_file} does not hold an agent token (wagent_...)")
    try:
        allow = AllowList([parse_entry(entry) for entry in args.allow_host])
    except AllowListError as exc:
        raise ConfigError(str(exc)) from None
    resolve: dict[str, str] = {}
    for item in args.resolve:
        name, _sep, address = item.partition("=")
        try:
            ipaddress.ip_address(address.strip())
        except ValueError:
            raise ConfigError(f"--resolve {item!r}: write HOST=ADDRESS with an IP address") from None
        resolve[name.strip().lower().rstrip(".")] = address.strip()
    for path in (args.ca_bundle, args.target_ca_bundle):
        if path and not os.path.isfile(path):
            raise ConfigError(f"CA bundle {path} does not exist")
    if not 1 <= args.poll_wait <= 60:
        raise ConfigError("--poll-wait must be 1 to 60 seconds")
    if not 1 <= args.max_calls <= 10:
        raise ConfigError("--max-calls must be 1 to 10")
    if not 1024 <= args.max_body_bytes <= 16 * 1024 * 1024:
        raise ConfigError("--max-body-bytes must be 1024 to 16777216")
    default_port = 443 if scheme == "https" else 80
    return Config(
        url=f"{scheme}://{host}" + ("" if port == default_port else f":{port}"), scheme=scheme, host=host, port=port,
        token=token, allow=allow, connect_address=connect_address, ca_bundle=args.ca_bundle,
        target_ca_bundle=args.target_ca_bundle, credentials=_credentials(args.credentials) if args.credentials else {},
        resolve=resolve, poll_wait=args.poll_wait, max_calls=args.max_calls, max_body_bytes=args.max_body_bytes,
    )
