"""Tickets and GitHub issues: create an issue from a ticket, link an existing one,
retry a failed creation, remove a link.

Creating an issue is a write to the outside system. The request (a person's, from the
desk, the admin or the API) is decided and audited in one transaction: `ticket.link_issue`
and the capped `connector.write` (context: connector), then the link is stored as
pending and a task sends it after commit (`github_issue_push`), outside any transaction,
through the connectors client (dry run, the daily write cap, the circuit, records). The
baseline's `connector.write` rule carries an approval obligation: the person asking is
that approval (they ask for this one issue, on this ticket, with its title); a request
that is no person's (the system, an integration) is refused until approvals exist
(docs/decisions/0023-github-webhooks.md).

GitHub does not honour an Idempotency-Key, so the POST is never re-sent blindly: the
client does not retry it after a 5xx or a lost answer, and before a creation that may
have reached GitHub is sent again, the repository's recent issues are searched for the
link's key, which every created issue carries in a hidden marker.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.audit.services import audit_record, tenant_is_metadata_only
from apps.core.errors import ApplicationError, Conflict, PermissionDenied
from apps.core.tasks import enqueue_on_commit
from apps.policies.actions import Action
from apps.policies.services import policy_require

from ..choices import Status
from ..client import CallFailed, ConnectorClient, ConnectorError
from ..models import Connector, GitHubIssueLink
from ..models_github import IssueState, LinkStatus
from . import conf, payloads, rest
from .actions import TICKET_LINK_ISSUE
from .selectors import repository_get, require_github, tenant_slug

PUSH_TASK = "connectors.github_issue_push"
# A creation still "being sent" after this long was interrupted (a worker died): it may
# be retried (the retry first looks for the issue it may have created).
STALE_SENDING = timedelta(minutes=10)
ADOPT_LOOKBACK = timedelta(minutes=5)


def _person(actor) -> User:
    if not isinstance(actor, User) or not actor.is_active:
        raise PermissionDenied(_("Only a person can ask for a GitHub issue: their request is the approval of the "
                                 "write."))
    return actor


def _target(connector: Connector, repo: str) -> str:
    require_github(connector)
    if connector.status != Status.ACTIVE:
        raise ApplicationError(_("Connector %(name)s is disabled.") % {"name": connector.name},
                               errors={"connector": [_("The connector is disabled.")]})
    repository = repository_get(connector, repo)
    if repository is None:
        message = _("Connector %(name)s does not serve repository %(repo)s; an admin adds it first.") % {
            "name": connector.name, "repo": str(repo)[:200]}
        raise ApplicationError(message, errors={"repo": [message]})
    return repository.full_name


def issue_key(link: GitHubIssueLink) -> str:
    """The link's idempotency key, carried by the issue's hidden marker."""
    return f"{tenant_slug()}-github-link-{link.pk}"


def issue_body(*, ticket_number: int, key: str) -> str:
    """What a created issue says (English: GitHub is outside): the ticket's number and
    the marker, never the ticket's description or its people."""
    return (f"Opened from Warden ticket #{ticket_number}.\n\n"
            f"{payloads.marker(tenant=tenant_slug(), number=ticket_number, key=key)}\n")


def _link_view(link: GitHubIssueLink) -> dict:
    return {"connector": link.connector.name, "repo": link.repo, "number": link.number, "link": link.pk,
            "ticket": link.ticket.number}


@transaction.atomic
def github_issue_create(*, actor, ticket, connector: Connector, repo: str) -> GitHubIssueLink:
    """Ask for an issue in `repo` for `ticket`; it is created after commit by the task."""
    person = _person(actor)
    policy_require(actor, TICKET_LINK_ISSUE, ticket, {"connector": connector.name, "operation": "create"})
    name = _target(connector, repo)
    decision = policy_require(actor, Action.CONNECTOR_WRITE, ticket,
                              {"connector": connector.name, "kind": "github", "operation": "issue_create"})
    link = GitHubIssueLink.objects.select_for_update().filter(connector=connector, ticket=ticket, repo=name).first()
    if link is not None and link.status not in (LinkStatus.FAILED, LinkStatus.DRY_RUN):
        message = _("Ticket #%(number)s is already linked to an issue of %(repo)s.") % {"number": ticket.number,
                                                                                        "repo": name}
        raise Conflict(message, errors={"repo": [message]})
    now = timezone.now()
    if link is None:
        link = GitHubIssueLink.objects.create(connector=connector, ticket=ticket, repo=name,
                                              status=LinkStatus.PENDING, created_by=person, created_at=now,
                                              updated_at=now)
    else:
        link.status, link.error, link.updated_at = LinkStatus.PENDING, "", now
        link.save(update_fields=["status", "error", "updated_at"])
    audit_record(actor=person, action="github.issue_create_requested", target=ticket,
                 payload={**_link_view(link), "approval": {"required": decision.requires_approval,
                                                           "approved_by": person.pk}})
    enqueue_on_commit(PUSH_TASK, link_id=link.pk)
    return link


@transaction.atomic
def github_issue_retry(*, actor, link: GitHubIssueLink) -> GitHubIssueLink:
    """Ask again for an issue whose creation failed, was a dry run, or was interrupted."""
    person = _person(actor)
    connector = link.connector
    policy_require(actor, TICKET_LINK_ISSUE, link.ticket, {"connector": connector.name, "operation": "retry"})
    _target(connector, link.repo)
    decision = policy_require(actor, Action.CONNECTOR_WRITE, link.ticket,
                              {"connector": connector.name, "kind": "github", "operation": "issue_create"})
    link = GitHubIssueLink.objects.select_for_update().select_related("connector", "ticket").get(pk=link.pk)
    now = timezone.now()
    interrupted = link.status == LinkStatus.SENDING and link.updated_at < now - STALE_SENDING
    if link.status not in (LinkStatus.FAILED, LinkStatus.DRY_RUN) and not interrupted:
        raise Conflict(_("This issue link is %(status)s: there is nothing to retry.")
                       % {"status": link.get_status_display()})
    link.status, link.error, link.updated_at = LinkStatus.PENDING, "", now
    link.save(update_fields=["status", "error", "updated_at"])
    audit_record(actor=person, action="github.issue_create_requested", target=link.ticket,
                 payload={**_link_view(link), "retry": True,
                          "approval": {"required": decision.requires_approval, "approved_by": person.pk}})
    enqueue_on_commit(PUSH_TASK, link_id=link.pk)
    return link


def github_issue_push(*, link_id: int, resolver=None, sleep=None) -> GitHubIssueLink | None:
    """Create the pending issue of link `link_id` on GitHub (the task; outside any
    transaction). Idempotent: a link that is not pending is left as it is."""
    with transaction.atomic():
        link = (GitHubIssueLink.objects.select_for_update().select_related("connector", "ticket")
                .filter(pk=link_id).first())
        if link is None or link.status != LinkStatus.PENDING:
            return link
        earlier_attempts = link.attempts
        link.status, link.attempts, link.updated_at = LinkStatus.SENDING, link.attempts + 1, timezone.now()
        link.save(update_fields=["status", "attempts", "updated_at"])
    client = ConnectorClient(link.connector, resolver=resolver, **({"sleep": sleep} if sleep else {}))
    key = issue_key(link)
    adopted = False
    try:
        issue = _find_created(client, link, key) if earlier_attempts else None
        if issue is not None:
            adopted, dry_run = True, False
        else:
            result = rest.issue_create(client, repo=link.repo, title=link.ticket.title,
                                       body=issue_body(ticket_number=link.ticket.number, key=key))
            dry_run = result.dry_run
            issue = None if dry_run else payloads.issue(result.json(), repo=link.repo)
    except (ConnectorError, payloads.PayloadInvalid) as exc:
        return _push_failed(link, exc)
    with transaction.atomic():
        link = GitHubIssueLink.objects.select_for_update().select_related("connector", "ticket").get(pk=link.pk)
        now = timezone.now()
        if dry_run:
            link.status, link.updated_at = LinkStatus.DRY_RUN, now
            link.save(update_fields=["status", "updated_at"])
            audit_record(actor=None, action="github.issue_created", target=link.ticket,
                         payload={**_link_view(link), "outcome": "dry_run"})
            return link
        _fill(link, issue)
        link.status, link.error, link.updated_at = LinkStatus.LINKED, "", now
        link.save()
        audit_record(actor=None, action="github.issue_created", target=link.ticket,
                     payload={**_link_view(link), "outcome": "created", "url": link.url, "adopted": adopted})
    return link


def _fill(link: GitHubIssueLink, issue: payloads.Issue) -> None:
    link.number, link.node_id, link.url = issue.number, issue.node_id, issue.url
    link.state, link.state_reason = issue.state, issue.state_reason
    link.remote_updated_at = issue.updated_at
    link.title = "" if tenant_is_metadata_only() else issue.title[:300]


def _find_created(client: ConnectorClient, link: GitHubIssueLink, key: str) -> payloads.Issue | None:
    """The issue an earlier, interrupted attempt created (found by its marker's key)."""
    listing = rest.issues_updated_since(client, repo=link.repo, since=link.created_at - ADOPT_LOOKBACK,
                                        max_pages=int(conf.get("WARDEN_GITHUB_ADOPT_MAX_PAGES")))
    for item in listing.items:
        ref = payloads.find_marker(str(item.get("body") or ""))
        if ref is not None and ref.key == key:
            return payloads.issue(item, repo=link.repo)
    return None


def _push_failed(link: GitHubIssueLink, exc: Exception) -> GitHubIssueLink:
    code = getattr(exc, "code", "invalid_answer")
    message = getattr(exc, "message", None) or _("GitHub's answer could not be read.")
    with transaction.atomic():
        link = GitHubIssueLink.objects.select_for_update().select_related("connector", "ticket").get(pk=link.pk)
        link.status, link.error, link.updated_at = LinkStatus.FAILED, str(message)[:300], timezone.now()
        link.save(update_fields=["status", "error", "updated_at"])
        audit_record(actor=None, action="github.issue_create_failed", target=link.ticket,
                     payload={**_link_view(link), "error": code, "status_code": getattr(exc, "status_code", None)})
    return link


def github_issue_link(*, actor, ticket, connector: Connector, repo: str, number: int,
                      resolver=None) -> GitHubIssueLink:
    """Link `ticket` to the existing issue `repo#number` (read from GitHub first)."""
    person = _person(actor)
    policy_require(actor, TICKET_LINK_ISSUE, ticket, {"connector": connector.name, "operation": "link"})
    name = _target(connector, repo)
    try:
        number = int(number)
    except (TypeError, ValueError):
        number = 0
    if number <= 0:
        raise ApplicationError(_("An issue number is a positive number."), errors={"number": [_("Not a number.")]})
    _refuse_taken(connector=connector, ticket=ticket, repo=name, number=number)
    try:
        issue = rest.issue_get(ConnectorClient(connector, resolver=resolver), repo=name, number=number)
    except CallFailed as exc:
        if exc.status_code in (404, 410):
            message = _("GitHub has no issue #%(number)s in %(repo)s (or the token may not read it).") % {
                "number": number, "repo": name}
            raise ApplicationError(message, errors={"number": [message]}) from None
        raise ApplicationError(_("GitHub could not be asked: %(error)s") % {"error": exc.message}, status=503) from None
    except ConnectorError as exc:
        raise ApplicationError(_("GitHub could not be asked: %(error)s") % {"error": exc.message}, status=503) from None
    except payloads.PayloadInvalid:
        raise ApplicationError(_("GitHub's answer could not be read."), status=502) from None
    now = timezone.now()
    try:
        with transaction.atomic():
            _refuse_taken(connector=connector, ticket=ticket, repo=name, number=number)
            link = GitHubIssueLink(connector=connector, ticket=ticket, repo=name, status=LinkStatus.LINKED,
                                   created_by=person, created_at=now, updated_at=now)
            _fill(link, issue)
            link.save()
            audit_record(actor=person, action="github.issue_linked", target=ticket,
                         payload={**_link_view(link), "url": link.url, "state": link.state})
    except IntegrityError:
        raise Conflict(_("%(repo)s#%(number)s was linked a moment ago.") % {"repo": name, "number": number}) from None
    return link


def _refuse_taken(*, connector: Connector, ticket, repo: str, number: int) -> None:
    other = GitHubIssueLink.objects.filter(connector=connector, repo=repo, number=number).select_related("ticket").first()
    if other is not None:
        message = _("%(repo)s#%(number)s is already linked to ticket #%(ticket)s.") % {
            "repo": repo, "number": number, "ticket": other.ticket.number}
        raise Conflict(message, errors={"number": [message]})
    if GitHubIssueLink.objects.filter(connector=connector, ticket=ticket, repo=repo).exists():
        message = _("Ticket #%(number)s is already linked to an issue of %(repo)s.") % {"number": ticket.number,
                                                                                        "repo": repo}
        raise Conflict(message, errors={"repo": [message]})


@transaction.atomic
def github_issue_unlink(*, actor, link: GitHubIssueLink) -> None:
    policy_require(actor, TICKET_LINK_ISSUE, link.ticket, {"connector": link.connector.name, "operation": "unlink"})
    link = GitHubIssueLink.objects.select_for_update().select_related("connector", "ticket").get(pk=link.pk)
    if link.status == LinkStatus.SENDING and link.updated_at >= timezone.now() - STALE_SENDING:
        raise Conflict(_("The issue is being created on GitHub right now; try again in a moment."))
    audit_record(actor=actor, action="github.issue_unlinked", target=link.ticket,
                 payload={**_link_view(link), "state": link.state or IssueState.UNKNOWN})
    GitHubIssueLink.objects.filter(pk=link.pk).delete()
