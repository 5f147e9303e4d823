"""The reconciliation: GitHub does not redeliver a webhook it could not deliver, so a
periodic task (`connectors.github_reconcile`, every 15 minutes per tenant) reads what
changed and applies what the deliveries missed.

Per repository served by an active GitHub connector, with linked issues:

1. the issues changed since the watermark (`GET /repos/{repo}/issues?since=&state=all`,
   oldest change first, 100 a page, following the Link header), and for each linked
   one whose state differs from what Warden applied, `inbound.apply_issue_state`;
2. the repository's issue comments changed since the watermark
   (`GET /repos/{repo}/issues/comments?since=`), and for each one on a linked issue,
   `inbound.apply_comment` (which skips a comment a delivery already applied).

Each change is applied in its own transaction, so a failure part-way keeps what was
applied, and a second run changes nothing (idempotent). The watermark is GitHub's own
time of the newest change read; the next run reads again from a little before it
(`WARDEN_GITHUB_RECONCILE_OVERLAP_SECONDS`). Each list reads at most
`WARDEN_GITHUB_RECONCILE_MAX_PAGES` pages; when one stops there, the watermark moves only
to the last change read, and the next run goes on from there. A call that fails (the
service down, a rate limit longer than the client waits) leaves the watermark where it
was; the next run tries again.

Outbound calls run outside database transactions (the client's rule); this runs in a
Celery task or the operator's shell.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import tenant_is_metadata_only

from ..client import ConnectorClient, ConnectorError
from ..models import Connector, GitHubDelivery, GitHubRepository
from ..models_github import DeliveryStatus
from ..services.connectors import connector_record_sync
from . import conf, inbound, payloads, rest
from .selectors import connectors_to_reconcile, links_of_repository, settings_get

logger = logging.getLogger(__name__)


@dataclass
class RepositoryResult:
    repo: str
    issues_read: int = 0
    comments_read: int = 0
    states_applied: int = 0
    comments_applied: int = 0
    truncated: bool = False
    error: str = ""


@dataclass
class ReconcileResult:
    repositories: list[RepositoryResult] = field(default_factory=list)

    @property
    def applied(self) -> int:
        return sum(r.states_applied + r.comments_applied for r in self.repositories)


def github_reconcile(*, connector: Connector | None = None, resolver=None, sleep=None) -> ReconcileResult:
    """Reconcile every GitHub connector of the tenant (or `connector` only)."""
    result = ReconcileResult()
    connectors = connectors_to_reconcile()
    if connector is not None:
        connectors = connectors.filter(pk=connector.pk)
    for row in connectors:
        settings = settings_get(row)
        if settings is None or settings.act_as is None:
            continue
        client = ConnectorClient(row, resolver=resolver, **({"sleep": sleep} if sleep else {}))
        failed = False
        for repository in GitHubRepository.objects.filter(connector=row).order_by("full_name"):
            outcome = _reconcile_repository(client, settings, repository)
            result.repositories.append(outcome)
            failed = failed or bool(outcome.error)
        if not failed:
            connector_record_sync(connector=row)
    return result


def _reconcile_repository(client: ConnectorClient, settings, repository: GitHubRepository) -> RepositoryResult:
    outcome = RepositoryResult(repo=repository.full_name)
    links = links_of_repository(repository)
    if not links:
        return outcome
    started = timezone.now()
    overlap = timedelta(seconds=int(conf.get("WARDEN_GITHUB_RECONCILE_OVERLAP_SECONDS")))
    since = (repository.reconciled_until or repository.created_at) - overlap
    max_pages = int(conf.get("WARDEN_GITHUB_RECONCILE_MAX_PAGES"))
    full_content = not tenant_is_metadata_only()
    newest: datetime | None = repository.reconciled_until
    stopped_at: list[datetime] = []
    try:
        issues = rest.issues_updated_since(client, repo=repository.full_name, since=since, max_pages=max_pages)
        last = None
        for item in issues.items:
            outcome.issues_read += 1
            try:
                issue = payloads.issue(item, repo=repository.full_name)
            except payloads.PayloadInvalid:
                continue
            last = issue.updated_at or last
            link = links.get(issue.number)
            if link is None:
                continue
            if issue.state != link.state:
                with transaction.atomic():
                    applied = inbound.apply_issue_state(link=link, settings=settings, state=issue.state,
                                                        state_reason=issue.state_reason, updated_at=issue.updated_at,
                                                        url=issue.url, source=inbound.RECONCILE)
                if applied.status == DeliveryStatus.APPLIED:
                    outcome.states_applied += 1
                link.refresh_from_db()
        newest = _later(newest, last)
        if issues.truncated and last is not None:
            stopped_at.append(last)
        comments = rest.comments_updated_since(client, repo=repository.full_name, since=since, max_pages=max_pages)
        last = None
        for item in comments.items:
            outcome.comments_read += 1
            try:
                comment = payloads.comment(item)
            except payloads.PayloadInvalid:
                continue
            last = comment.updated_at or last
            link = links.get(comment.issue_number) if comment.issue_number else None
            if link is None:
                continue
            with transaction.atomic():
                applied = inbound.apply_comment(link=link, settings=settings, comment_id=comment.id,
                                                author=comment.author, url=comment.url,
                                                body=comment.body if full_content else None,
                                                created_at=comment.created_at, source=inbound.RECONCILE)
            if applied.status == DeliveryStatus.APPLIED:
                outcome.comments_applied += 1
        newest = _later(newest, last)
        if comments.truncated and last is not None:
            stopped_at.append(last)
    except (ConnectorError, payloads.PayloadInvalid) as exc:
        outcome.error = getattr(exc, "message", None) or str(exc)
        logger.warning("github reconciliation of %s stopped: %s", repository.full_name, outcome.error)
        GitHubRepository.objects.filter(pk=repository.pk).update(
            last_reconciled_at=started, last_reconcile_detail=_("Stopped: %(error)s") % {"error": outcome.error[:250]})
        return outcome
    outcome.truncated = bool(stopped_at)
    watermark = min(stopped_at) if stopped_at else newest
    detail = _("%(states)d state changes and %(comments)d comments applied.") % {
        "states": outcome.states_applied, "comments": outcome.comments_applied}
    if outcome.truncated:
        detail += " " + _("More to read: the next run goes on.")
    GitHubRepository.objects.filter(pk=repository.pk).update(
        reconciled_until=watermark, last_reconciled_at=started, last_reconcile_detail=detail[:300])
    return outcome


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def github_deliveries_prune(*, now: datetime | None = None) -> int:
    """Forget processed deliveries older than WARDEN_GITHUB_DELIVERY_RETENTION_DAYS (the
    ones still waiting stay)."""
    cutoff = (now or timezone.now()) - timedelta(days=int(conf.get("WARDEN_GITHUB_DELIVERY_RETENTION_DAYS")))
    deleted, _counts = (GitHubDelivery.objects.filter(received_at__lt=cutoff)
                        .exclude(status=DeliveryStatus.RECEIVED).delete())
    return deleted
