"""ServiceNow (the connector kind; polling and write-back come with their own issue).

Instances live at https://<instance>.service-now.com. Test connection reads one user id
from the Table API, which any integration user with read access can do."""

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
