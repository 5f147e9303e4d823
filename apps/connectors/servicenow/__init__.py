"""ServiceNow (the connector kind): incidents polled into Warden tickets, triage written
back, write-backs undone (docs/connectors.md, docs/decisions/0022-servicenow-sync.md).

Instances live at https://<instance>.service-now.com. Test connection reads one user id
from the Table API, which any integration user with read access can do.

Layout: `query.py` and `mapping.py` are pure; `client.py` is the Table API over the
connectors' client (HTTP only); `models.py`, `selectors.py`, `services/` (poll,
writeback, undo), `tasks.py`, `admin.py`. `ready()` is called by ConnectorsConfig."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from ..base import ConnectorKind
from ..choices import AuthScheme


def _describe(response) -> str:
    count = response.headers.get("X-Total-Count")
    return f"Table API answered (sys_user rows: {count})" if count else "Table API answered"


KIND = ConnectorKind(
    name="servicenow",
    label=_("ServiceNow"),
    hosts=("*.service-now.com",),
    auth_schemes=(AuthScheme.BASIC, AuthScheme.BEARER),
    test_path="/api/now/table/sys_user?sysparm_limit=1&sysparm_fields=sys_id",
    describe=_describe,
    example_url="https://acme.service-now.com",
)


def ready() -> None:
    """Beat's periodic poll (registered from ConnectorsConfig.ready())."""
    from apps.core import periodic

    from . import conf

    periodic.register(periodic.Periodic(name="connectors-servicenow-poll", tenant_task="connectors.servicenow_poll_all",
                                        every_seconds=int(conf.get("WARDEN_SERVICENOW_POLL_SECONDS")),
                                        jitter_seconds=30))
