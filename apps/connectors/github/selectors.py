"""Reads of the GitHub connector (the current tenant's schema only)."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.tenants.models import Tenant

from ..choices import Status
from ..models import Connector, GitHubIssueLink, GitHubRepository, GitHubSettings
from ..models_github import LinkStatus
from . import KIND, payloads


def require_github(connector: Connector) -> None:
    if connector.kind != KIND.name:
        raise ApplicationError(_("Connector %(name)s is not a GitHub connector.") % {"name": connector.name},
                               errors={"connector": [_("Choose a GitHub connector.")]})


def settings_get(connector: Connector) -> GitHubSettings | None:
    return GitHubSettings.objects.select_related("act_as").filter(pk=connector.pk).first()


def repository_get(connector: Connector, repo: str) -> GitHubRepository | None:
    try:
        name = payloads.repo_name(repo)
    except payloads.PayloadInvalid:
        return None
    return GitHubRepository.objects.filter(connector=connector, full_name=name).first()


def link_get(*, connector: Connector, repo: str, number: int) -> GitHubIssueLink | None:
    """The linked issue `repo#number` of this tenant (its schema only: another
    organisation's links do not exist here)."""
    return (GitHubIssueLink.objects.select_related("ticket").filter(
        connector=connector, repo=repo, number=number, status=LinkStatus.LINKED).first())


def repository_list() -> QuerySet[GitHubRepository]:
    """The repositories of the tenant's GitHub connectors, with their connector, by name."""
    return GitHubRepository.objects.filter(connector__kind="github").select_related("connector").order_by("full_name")


def links_of_repository(repository: GitHubRepository) -> dict[int, GitHubIssueLink]:
    rows = GitHubIssueLink.objects.filter(connector_id=repository.connector_id, repo=repository.full_name,
                                          status=LinkStatus.LINKED, number__isnull=False)
    return {link.number: link for link in rows}


def link_list(*, connector: Connector | None = None, ticket=None) -> QuerySet[GitHubIssueLink]:
    rows = GitHubIssueLink.objects.select_related("connector", "ticket").order_by("-created_at", "-pk")
    if connector is not None:
        rows = rows.filter(connector=connector)
    if ticket is not None:
        rows = rows.filter(ticket=ticket)
    return rows


def connectors_to_reconcile() -> QuerySet[Connector]:
    return Connector.objects.filter(kind=KIND.name, status=Status.ACTIVE, github_settings__act_as__isnull=False,
                                    github_repositories__isnull=False).distinct().order_by("pk")


def tenant_slug() -> str:
    """The current tenant's slug (what issue markers name)."""
    slug = getattr(getattr(connection, "tenant", None), "slug", None)
    if slug:
        return slug
    return Tenant.objects.filter(schema_name=connection.schema_name).values_list("slug", flat=True).first() or ""
