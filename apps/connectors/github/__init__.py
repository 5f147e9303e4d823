"""GitHub (the connector kind): issues created from tickets or linked to them, inbound
webhooks (`/hooks/github/`) and the reconciliation of what webhooks missed.

The REST API is https://api.github.com; Test connection asks who the token belongs to.
Modules: `payloads`, `signature`, `paging` (pure), `rest` (HTTP through the connectors
client), `selectors`, the services `configure`, `issues`, `inbound`, `reconcile`, and
`webhooks` (the hook), `consumers`, `tasks`, `admin`, `api`. The rows are in
`apps/connectors/models_github.py`. Guide: docs/connectors.md; design:
docs/decisions/0023-github-webhooks.md.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from ..base import ConnectorKind
from ..choices import AuthScheme


def _describe(response) -> str:
    login = (response.json() or {}).get("login")
    return f"signed in as {login}" if login else ""


KIND = ConnectorKind(
    name="github",
    label=_("GitHub"),
    hosts=("api.github.com",),
    auth_schemes=(AuthScheme.BEARER,),
    test_path="/user",
    describe=_describe,
    example_url="https://api.github.com",
)


def ready() -> None:
    """Wire the GitHub connector in (called by ConnectorsConfig.ready()): its policy
    action, its event and subscriber, its tasks and periodic reconciliation, and its
    encrypted column for `rotate_secrets`."""
    from apps.core import periodic, secrets
    from apps.policies.actions import register_action

    from . import conf, consumers, events, tasks  # noqa: F401 - declare the event, register the tasks
    from .actions import DESCRIPTIONS

    for action, description in DESCRIPTIONS.items():
        register_action(action, description)
    consumers.register()
    secrets.register_field("connectors.GitHubSettings", "webhook_secret", on_unreadable=_disable_unreadable)
    periodic.register(periodic.Periodic(name="connectors-github-reconcile", tenant_task="connectors.github_reconcile",
                                        every_seconds=int(conf.get("WARDEN_GITHUB_RECONCILE_EVERY_SECONDS")),
                                        jitter_seconds=120))


def _disable_unreadable(row) -> None:
    from ..disabling import connector_disable_unreadable

    connector_disable_unreadable(connector=row.connector)
