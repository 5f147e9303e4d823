"""GitHub's changes coming in: a verified delivery is stored and announced (the hook,
`github_delivery_receive`), then applied to the linked ticket after commit (the
subscriber, `github_delivery_process`); the reconciliation applies what deliveries
missed through the same two functions, `apply_issue_state` and `apply_comment`.

Applying is idempotent whatever the order and however often a change arrives: the
link keeps the issue state Warden has applied (and GitHub's time of it, so an older
change never undoes a newer one), and every GitHub comment turned into a ticket comment
is recorded by its id first (a unique row), so a delivery and the reconciliation, or
two deliveries, never add it twice.

A delivery is applied only to this tenant's own link of the issue, looked up in the
tenant's schema. A delivery for a repository the connector does not serve, from another
App installation, or about an issue that is not linked here but whose marker names a
ticket (another organisation's, or one nobody linked) is refused and audited here
(`github.delivery_refused`); nothing is looked up anywhere else.

GitHub's changes are written as the connector's "act as" user (an agent or admin)
through the tickets services, so the policies, the workflow, the audit chain and the
events apply as to any agent. Each write is decided first (`decide`), so a denial is
recorded and committed with the delivery's outcome rather than rolled back with a
failed write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_record, tenant_is_metadata_only
from apps.core.errors import ApplicationError
from apps.events.services.emit import emit
from apps.policies.actions import Action
from apps.policies.services import decide
from apps.tickets import services as ticket_services
from apps.tickets import workflow
from apps.tickets.choices import ResolutionCode, TicketStatus
from apps.tickets.models import Ticket, TicketComment

from ..models import Connector, GitHubAppliedComment, GitHubDelivery, GitHubIssueLink, GitHubSettings
from ..models_github import CommentVisibility, DeliveryStatus, IssueState
from . import payloads
from .events import GitHubDeliveryReceived
from .selectors import link_get, repository_get, settings_get, tenant_slug

logger = logging.getLogger(__name__)

WEBHOOK = "webhook"
RECONCILE = "reconcile"
MAX_QUOTED_CHARS = 8000
# A comment written this long before its issue was linked is history, not news.
LINK_SKEW = timedelta(seconds=5)

RESOLUTION_CODES = {
    "completed": ResolutionCode.FIXED,
    "not_planned": ResolutionCode.WONT_FIX,
    "duplicate": ResolutionCode.DUPLICATE,
}


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: str = ""


# --- Receiving (the hook) ---------------------------------------------------------------


def github_delivery_receive(*, connector: Connector, guid: str, parsed: payloads.Delivery) -> tuple[GitHubDelivery, bool]:
    """Store a verified delivery once per `X-GitHub-Delivery` and announce it, in one
    transaction. (delivery, False) when it was received before: nothing is written."""
    data = parsed.data(full_content=not tenant_is_metadata_only())
    with transaction.atomic():
        delivery, created = GitHubDelivery.objects.get_or_create(
            connector=connector, guid=guid,
            defaults={"event": parsed.event, "action": parsed.action, "repo": parsed.repo,
                      "number": parsed.issue.number if parsed.issue else None, "data": data},
        )
        if created:
            emit(GitHubDeliveryReceived(delivery_id=delivery.pk, connector_id=connector.pk))
    return delivery, created


# --- Processing (the subscriber) -------------------------------------------------------


@transaction.atomic
def github_delivery_process(*, delivery_id: int) -> str:
    """Apply a stored delivery to its linked ticket. Idempotent: a delivery that was
    processed is left alone. Returns the delivery's status."""
    delivery = GitHubDelivery.objects.select_for_update().select_related("connector").filter(pk=delivery_id).first()
    if delivery is None:
        return ""
    if delivery.status != DeliveryStatus.RECEIVED:
        return delivery.status
    outcome = _apply_delivery(delivery)
    delivery.status, delivery.detail = outcome.status, outcome.detail[:300]
    delivery.processed_at = timezone.now()
    delivery.data = _without_content(delivery.data)
    delivery.save(update_fields=["status", "detail", "processed_at", "data"])
    logger.info("github delivery %s (%s.%s) %s: %s", delivery.guid, delivery.event, delivery.action, outcome.status,
                outcome.detail)
    return outcome.status


def _without_content(data: dict[str, Any]) -> dict[str, Any]:
    """The delivery's record once applied: the text went to the ticket (full-content
    tenants), the record keeps the metadata."""
    data = dict(data or {})
    for part, key in (("issue", "title"), ("comment", "body")):
        if isinstance(data.get(part), dict):
            data[part] = {k: v for k, v in data[part].items() if k != key}
    return data


def _apply_delivery(delivery: GitHubDelivery) -> Outcome:
    connector = delivery.connector
    settings = settings_get(connector)
    data = delivery.data or {}
    issue = data.get("issue") or {}
    if repository_get(connector, delivery.repo) is None:
        return _refuse(delivery, "repository_not_served",
                       _("Repository %(repo)s is not served by this connector.") % {"repo": delivery.repo})
    if settings is not None and settings.installation_id and data.get("installation_id") != settings.installation_id:
        return _refuse(delivery, "installation_mismatch", _("The delivery names another GitHub App installation."))
    link = link_get(connector=connector, repo=delivery.repo, number=delivery.number) if delivery.number else None
    if link is None:
        names = issue.get("names") or None
        if names and names.get("tenant") != tenant_slug():
            return _refuse(delivery, "another_organisation",
                           _("The issue names a ticket of another organisation; nothing was changed."),
                           named_tenant=str(names.get("tenant"))[:40], named_ticket=names.get("number"))
        if names:
            return _refuse(delivery, "not_linked",
                           _("The issue names ticket #%(number)s, which is not linked to it.")
                           % {"number": names.get("number")}, named_ticket=names.get("number"))
        return Outcome(DeliveryStatus.IGNORED, _("The issue is not linked to a ticket."))
    if settings is None or settings.act_as is None:
        return Outcome(DeliveryStatus.FAILED, _("No user is set to write GitHub's changes as (GitHub settings)."))
    if delivery.event == "issues":
        return apply_issue_state(link=link, settings=settings, state=str(issue.get("state") or ""),
                                 state_reason=str(issue.get("state_reason") or ""),
                                 updated_at=payloads.timestamp(issue.get("updated_at")), sender=data.get("sender", ""),
                                 url=str(issue.get("url") or ""))
    comment = data.get("comment") or {}
    return apply_comment(link=link, settings=settings, comment_id=int(comment.get("id") or 0),
                         author=str(comment.get("author") or ""), url=str(comment.get("url") or ""),
                         body=comment.get("body"), created_at=payloads.timestamp(comment.get("created_at")),
                         source=WEBHOOK)


def _refuse(delivery: GitHubDelivery, reason: str, detail: str, **extra) -> Outcome:
    audit_record(actor=None, action="github.delivery_refused", target=delivery.connector,
                 payload={"connector": delivery.connector.name, "delivery": delivery.guid, "event": delivery.event,
                          "action": delivery.action, "repo": delivery.repo, "issue": delivery.number,
                          "reason": reason, **extra})
    logger.warning("github delivery %s refused: %s", delivery.guid, reason)
    return Outcome(DeliveryStatus.REFUSED, detail)


# --- Applying (deliveries and the reconciliation) --------------------------------------


def apply_issue_state(*, link: GitHubIssueLink, settings: GitHubSettings, state: str, state_reason: str,
                      updated_at: datetime | None, sender: str = "", url: str = "", source: str = WEBHOOK) -> Outcome:
    """The issue is `state` on GitHub (as of `updated_at`): if that is news, a ticket
    comment says so and, for a closed issue, the ticket moves to the tenant's mapped
    status. Runs in the caller's transaction."""
    if state not in (IssueState.OPEN, IssueState.CLOSED):
        return Outcome(DeliveryStatus.IGNORED, _("Unknown issue state."))
    link = GitHubIssueLink.objects.select_for_update().select_related("ticket", "connector").get(pk=link.pk)
    if updated_at and link.remote_updated_at and updated_at < link.remote_updated_at:
        return Outcome(DeliveryStatus.IGNORED, _("An older change than the one already applied."))
    if link.state == state:
        if updated_at and (link.remote_updated_at is None or updated_at > link.remote_updated_at):
            link.remote_updated_at = updated_at
            link.save(update_fields=["remote_updated_at"])
        return Outcome(DeliveryStatus.IGNORED, _("The issue is already %(state)s here.") % {"state": state})
    link.state = state
    link.state_reason = state_reason[:32] if state == IssueState.CLOSED else ""
    link.remote_updated_at = max(filter(None, [updated_at, link.remote_updated_at]), default=None)
    link.updated_at = timezone.now()
    link.save(update_fields=["state", "state_reason", "remote_updated_at", "updated_at"])
    actor = settings.act_as
    notes = []
    written = _write_comment(actor, link.ticket, _state_text(link, sender=sender, url=url),
                             internal=settings.comment_visibility != CommentVisibility.PUBLIC)
    if written.note:
        notes.append(written.note)
    if state == IssueState.CLOSED and settings.on_issue_closed_status:
        notes.append(_move(actor, link, settings.on_issue_closed_status))
    return Outcome(DeliveryStatus.APPLIED, "; ".join(notes) or _("Ticket comment added (%(source)s).")
                   % {"source": source})


def apply_comment(*, link: GitHubIssueLink, settings: GitHubSettings, comment_id: int, author: str, url: str,
                  body: str | None, created_at: datetime | None, source: str = WEBHOOK) -> Outcome:
    """A GitHub comment becomes a ticket comment, once (by its id). `body` is None in
    metadata-only tenants: the ticket comment then says who commented, with the link."""
    if comment_id <= 0:
        return Outcome(DeliveryStatus.IGNORED, _("The comment has no id."))
    if created_at and created_at < link.created_at - LINK_SKEW:
        return Outcome(DeliveryStatus.IGNORED, _("The comment was written before the issue was linked."))
    try:
        with transaction.atomic():
            applied = GitHubAppliedComment.objects.create(link=link, comment_id=comment_id, source=source)
    except IntegrityError:
        return Outcome(DeliveryStatus.IGNORED, _("The comment was applied already."))
    written = _write_comment(settings.act_as, link.ticket, _comment_text(link, author=author, url=url, body=body),
                             internal=settings.comment_visibility != CommentVisibility.PUBLIC)
    if written.comment is None:
        return Outcome(DeliveryStatus.REFUSED if written.denied else DeliveryStatus.FAILED, written.note)
    applied.ticket_comment = written.comment
    applied.save(update_fields=["ticket_comment"])
    return Outcome(DeliveryStatus.APPLIED, written.note or _("Ticket comment added (%(source)s).") % {"source": source})


@dataclass(frozen=True)
class _Written:
    comment: TicketComment | None
    note: str = ""
    denied: bool = False


def _write_comment(actor, ticket: Ticket, body: str, *, internal: bool) -> _Written:
    ticket = Ticket.objects.get(pk=ticket.pk)
    note = ""
    if not internal and ticket.status in workflow.TERMINAL:
        internal, note = True, _("Written as an internal note: the ticket is %(status)s.") % {
            "status": workflow.status_word(ticket.status)}
    decision = decide(actor, Action.TICKET_COMMENT, ticket, {"internal": internal})
    if not decision.allowed:
        return _Written(None, _("The comment was denied by policy (ticket.comment)."), denied=True)
    try:
        with transaction.atomic():
            comment = ticket_services.comment_add(actor=actor, ticket=ticket, body=body, internal=internal)
    except ApplicationError as exc:
        return _Written(None, _("No comment added: %(error)s") % {"error": exc.message})
    return _Written(comment, note)


def _move(actor, link: GitHubIssueLink, target: str) -> str:
    ticket = Ticket.objects.get(pk=link.ticket_id)
    current = ticket.status
    if current == target:
        return _("The ticket is already %(status)s.") % {"status": workflow.status_word(target)}
    role = actor.role if getattr(actor, "role", None) in workflow.ROLES else workflow.AGENT
    if not workflow.is_allowed(role, current, target):
        return _("The ticket stays %(current)s: it cannot move to %(target)s from there.") % {
            "current": workflow.status_word(current), "target": workflow.status_word(target)}
    decision = decide(actor, Action.TICKET_TRANSITION, ticket, {"to": target, "from": current})
    if not decision.allowed:
        return _("The status change was denied by policy (ticket.transition).")
    extra: dict[str, Any] = {}
    if target == TicketStatus.RESOLVED:
        extra = {
            "resolution_code": RESOLUTION_CODES.get(link.state_reason, ResolutionCode.FIXED),
            "resolution_note": _("GitHub issue %(ref)s was closed (%(reason)s).") % {
                "ref": f"{link.repo}#{link.number}", "reason": link.state_reason or "closed"},
        }
    try:
        with transaction.atomic():
            ticket_services.ticket_transition(actor=actor, ticket=ticket, to=target, **extra)
    except ApplicationError as exc:
        return _("The status did not change: %(error)s") % {"error": exc.message}
    return _("Ticket moved from %(current)s to %(target)s.") % {
        "current": workflow.status_word(current), "target": workflow.status_word(target)}


# --- The text of the ticket comments ----------------------------------------------------


def _safe_url(url: str) -> str:
    url = (url or "").strip()
    if not url.startswith(("https://", "http://")) or any(c in url for c in " ()<>[]\"'`\n"):
        return ""
    return url


def _ref(link: GitHubIssueLink, url: str) -> str:
    label = f"`{link.repo}#{link.number}`"
    target = _safe_url(url) or _safe_url(link.url)
    return f"[{label}]({target})" if target else label


def _who(login: str) -> str:
    login = "".join(c for c in (login or "") if c.isalnum() or c in "-_[]")[:100]
    return f"`{login}`" if login else _("someone")


def _state_text(link: GitHubIssueLink, *, sender: str, url: str) -> str:
    ref = _ref(link, url)
    if link.state == IssueState.CLOSED:
        reason = link.state_reason.replace("_", " ") or "closed"
        if sender:
            return _("**GitHub**: issue %(ref)s was closed (%(reason)s) by %(who)s.") % {
                "ref": ref, "reason": reason, "who": _who(sender)}
        return _("**GitHub**: issue %(ref)s was closed (%(reason)s).") % {"ref": ref, "reason": reason}
    if sender:
        return _("**GitHub**: issue %(ref)s was reopened by %(who)s.") % {"ref": ref, "who": _who(sender)}
    return _("**GitHub**: issue %(ref)s was reopened.") % {"ref": ref}


def defuse(text: str) -> str:
    """GitHub text quoted in a ticket: an @name must not mention (and notify) a Warden
    user, so a word joiner follows every @."""
    return text.replace("@", "@\u2060")


def _comment_text(link: GitHubIssueLink, *, author: str, url: str, body: str | None) -> str:
    head = _("**GitHub**: %(who)s commented on %(ref)s.") % {"who": _who(author), "ref": _ref(link, url)}
    if body is None or not body.strip():
        return head
    text = defuse(body.strip())
    if len(text) > MAX_QUOTED_CHARS:
        text = text[:MAX_QUOTED_CHARS] + " …"
    quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines())
    return f"{head}\n\n{quoted}"
