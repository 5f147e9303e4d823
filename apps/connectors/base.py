"""What a connector kind is: the plug-in shape every kind package provides. Pure.

A kind (ServiceNow, GitHub, the customer agent) is one package under apps/connectors/
with a `KIND = ConnectorKind(...)` and, for behaviour beyond the framework's, functions
that take a `client.ConnectorClient`. `ConnectorsConfig.ready()` registers each
package's KIND in `registry.KINDS`; the framework (models, guard, client, admin, API)
knows kinds only through the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .choices import AuthScheme


class Response(Protocol):
    status_code: int
    headers: Any

    def json(self) -> Any: ...


@dataclass(frozen=True)
class ConnectorKind:
    name: str  # stored in Connector.kind: lower case, never renamed
    label: str
    hosts: tuple[str, ...]  # allowed host patterns: "api.github.com", "*.service-now.com"
    auth_schemes: tuple[str, ...] = (AuthScheme.BEARER,)
    # "Test connection": a harmless GET, and what its answer says about who we reached.
    test_path: str = "/"
    describe: Callable[[Response], str] | None = None
    example_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def describe_answer(self, response: Response) -> str:
        if self.describe is None:
            return ""
        try:
            return str(self.describe(response))[:200]
        except Exception:  # noqa: BLE001 - a surprising answer is described as nothing
            return ""
