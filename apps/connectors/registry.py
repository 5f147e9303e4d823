"""The registry of connector kinds, filled from ConnectorsConfig.ready(). Pure."""

from __future__ import annotations

import re
import threading

from .base import ConnectorKind

NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


class UnknownKind(LookupError):
    pass


class KindRegistry:
    def __init__(self) -> None:
        self._kinds: dict[str, ConnectorKind] = {}
        self._lock = threading.Lock()

    def register(self, kind: ConnectorKind) -> ConnectorKind:
        if not NAME.match(kind.name):
            raise ValueError(f"invalid connector kind name {kind.name!r}")
        if not kind.hosts:
            raise ValueError(f"connector kind {kind.name!r} allows no host")
        with self._lock:
            existing = self._kinds.get(kind.name)
            if existing is not None and existing is not kind and existing != kind:
                raise ValueError(f"connector kind {kind.name!r} is already registered")
            self._kinds[kind.name] = kind
        return kind

    def unregister(self, name: str) -> None:
        """For tests that register a kind of their own."""
        with self._lock:
            self._kinds.pop(name, None)

    def get(self, name: str) -> ConnectorKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise UnknownKind(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def choices(self) -> list[tuple[str, str]]:
        return [(name, str(self._kinds[name].label)) for name in self.names()]


KINDS = KindRegistry()


def register_kind(kind: ConnectorKind) -> ConnectorKind:
    return KINDS.register(kind)
