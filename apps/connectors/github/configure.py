"""Configuring a GitHub connector (tenant admins; policy `connector.configure`): its
inbound settings and the repositories it serves. Audited; the webhook secret is
encrypted before it is stored and never shown back, logged or audited (the audit event
says that it was replaced)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import Role, User
from apps.audit.services import audit_record
from apps.core import secrets
from apps.core.errors import ApplicationError, Conflict
from apps.policies.services import policy_require

from ..actions import CONNECTOR_CONFIGURE
from ..models import Connector, GitHubIssueLink, GitHubRepository, GitHubSettings
from ..models_github import ClosedIssueStatus, CommentVisibility
from . import payloads
from .selectors import require_github

MIN_SECRET_CHARS = 16
_UNSET: Any = object()


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, errors={field: [message]})


def _view(row: GitHubSettings) -> dict:
    return {
        "act_as": row.act_as_id,
        "installation_id": row.installation_id,
        "on_issue_closed_status": row.on_issue_closed_status,
        "comment_visibility": row.comment_visibility,
    }


def _check_act_as(value) -> User | None:
    if value is None:
        return None
    user = value if isinstance(value, User) else User.objects.filter(pk=value).first()
    if user is None or not user.is_active or user.role not in (Role.AGENT, Role.ADMIN):
        raise _invalid("act_as", _("Choose an active agent or admin."))
    return user


@transaction.atomic
def github_settings_update(*, actor, connector: Connector, webhook_secret: str | None = None, act_as=_UNSET,
                           installation_id=_UNSET, on_issue_closed_status=_UNSET,
                           comment_visibility=_UNSET) -> GitHubSettings:
    """Change what is given; `webhook_secret` None or "" keeps the one that is set."""
    policy_require(actor, CONNECTOR_CONFIGURE, connector, {"operation": "github_settings"})
    require_github(connector)
    row = GitHubSettings.objects.select_for_update().filter(pk=connector.pk).first()
    if row is None:
        row = GitHubSettings.objects.create(connector=connector)
    before = _view(row)
    if act_as is not _UNSET:
        row.act_as = _check_act_as(act_as)
    if installation_id is not _UNSET:
        if installation_id in (None, ""):
            row.installation_id = None
        else:
            try:
                row.installation_id = int(installation_id)
            except (TypeError, ValueError):
                row.installation_id = -1
            if row.installation_id <= 0:
                raise _invalid("installation_id", _("A positive number (GitHub's installation id), or empty."))
    if on_issue_closed_status is not _UNSET:
        if (on_issue_closed_status or "") not in ClosedIssueStatus.values:
            raise _invalid("on_issue_closed_status", _("Choose one of: %(values)s.")
                           % {"values": ", ".join(v or '""' for v in ClosedIssueStatus.values)})
        row.on_issue_closed_status = on_issue_closed_status or ""
    if comment_visibility is not _UNSET:
        if comment_visibility not in CommentVisibility.values:
            raise _invalid("comment_visibility", _("Choose one of: %(values)s.")
                           % {"values": ", ".join(CommentVisibility.values)})
        row.comment_visibility = comment_visibility
    secret = (webhook_secret or "").strip()
    if secret and len(secret) < MIN_SECRET_CHARS:
        raise _invalid("webhook_secret", _("Use at least %(n)d characters (a random string).") % {"n": MIN_SECRET_CHARS})
    now = timezone.now()
    if secret:
        row.webhook_secret, row.webhook_secret_set_at = secrets.encrypt(secret), now
    after = _view(row)
    changed = sorted(key for key in after if after[key] != before[key])
    if not changed and not secret:
        return row
    row.updated_at = now
    row.save()
    audit_record(actor=actor, action="github.settings_changed", target=connector,
                 payload={"connector": connector.name, "fields": changed, "before": {k: before[k] for k in changed},
                          "after": {k: after[k] for k in changed}, "webhook_signing_key_replaced": bool(secret)})
    return row


@transaction.atomic
def github_repository_add(*, actor, connector: Connector, full_name: str) -> GitHubRepository:
    policy_require(actor, CONNECTOR_CONFIGURE, connector, {"operation": "github_repository_add"})
    require_github(connector)
    try:
        name = payloads.repo_name(full_name)
    except payloads.PayloadInvalid:
        raise _invalid("full_name", _("Write the repository as owner/name.")) from None
    if GitHubRepository.objects.filter(connector=connector, full_name=name).exists():
        raise _invalid("full_name", _("This repository is already served by the connector."))
    repository = GitHubRepository.objects.create(connector=connector, full_name=name)
    audit_record(actor=actor, action="github.repository_added", target=connector,
                 payload={"connector": connector.name, "repository": name})
    return repository


@transaction.atomic
def github_repository_remove(*, actor, repository: GitHubRepository) -> None:
    connector = repository.connector
    policy_require(actor, CONNECTOR_CONFIGURE, connector, {"operation": "github_repository_remove"})
    links = GitHubIssueLink.objects.filter(connector=connector, repo=repository.full_name).count()
    if links:
        raise Conflict(_("%(n)d tickets are linked to issues of %(repo)s: remove those links first.")
                       % {"n": links, "repo": repository.full_name})
    audit_record(actor=actor, action="github.repository_removed", target=connector,
                 payload={"connector": connector.name, "repository": repository.full_name})
    GitHubRepository.objects.filter(pk=repository.pk).delete()
