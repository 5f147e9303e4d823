"""The agent's allow-list: the hosts (and ports) it may call, whatever Warden asks.

An entry is `host`, `*.suffix` (names ending in `.suffix`) or either with `:port`;
without a port only 443 is allowed. Names only: an IP address is refused as an entry,
and so is a call to one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


class AllowListError(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    host: str  # "ghe.corp.example" or "*.corp.example"
    port: int

    def allows(self, host: str, port: int) -> bool:
        if port != self.port:
            return False
        if self.host.startswith("*."):
            suffix = self.host[1:]
            return host.endswith(suffix) and len(host) > len(suffix)
        return host == self.host


def parse_entry(text: str) -> Entry:
    raw = (text or "").strip().lower().rstrip(".")
    host, port = raw, 443
    if ":" in raw:
        host, _sep, port_text = raw.rpartition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise AllowListError(f"--allow-host {text!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    name = host[2:] if host.startswith("*.") else host
    if not name or not _NAME.match(name) or "." not in name and host.startswith("*."):
        raise AllowListError(f"--allow-host {text!r}: write a host name (ghe.corp.example), *.suffix, "
                             "optionally with :port")
    if name.replace(".", "").isdigit():
        raise AllowListError(f"--allow-host {text!r}: use the host's name, not its IP address")
    return Entry(host=host, port=port)


class AllowList:
    def __init__(self, entries: list[Entry]) -> None:
        self.entries = tuple(entries)

    def allows(self, host: str, port: int) -> bool:
        host = (host or "").lower().rstrip(".")
        return any(entry.allows(host, port) for entry in self.entries)

    def __str__(self) -> str:
        return ", ".join(e.host + ("" if e.port == 443 else f":{e.port}") for e in self.entries)
