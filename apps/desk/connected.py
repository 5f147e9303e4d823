"""The desk's side of the connectors: on a ticket's page, the ServiceNow incident it came
from with the write-backs made to it (each undoable within its window), and the GitHub
issues linked to it (create one, link an existing one, retry a failed creation, unlink).

Every action is the connectors' service (policy, cap, idempotency, audit, dry run); the
views only read the form, call it and say what happened."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.connectors.github import issues as github
from apps.connectors.github import selectors as github_selectors
from apps.connectors.models import Connector, GitHubIssueLink, GitHubRepository
from apps.connectors.servicenow import selectors as servicenow
from apps.connectors.servicenow.models import WriteBackKind, WriteBackStatus
from apps.connectors.servicenow.services import writeback_undo
from apps.connectors.servicenow.services.undo import undo_deadline
from apps.core.errors import ApplicationError
from apps.core.problems import persist_denial
from apps.tickets import selectors

from .access import agent_required

ANCHOR = "#connected"


def _back(number: int) -> HttpResponse:
    return redirect(reverse("desk:ticket", kwargs={"number": number}) + ANCHOR)


def _refused(request: HttpRequest, exc: ApplicationError) -> None:
    persist_denial(exc)
    details = [str(m) for field in (exc.errors or {}).values() for m in field if str(m) != exc.message]
    messages.error(request, " ".join([exc.message, *details[:2]]))


def _repository(request: HttpRequest) -> GitHubRepository:
    try:
        pk = int(request.POST.get("repository", ""))
    except ValueError:
        pk = 0
    repository = github_selectors.repository_list().filter(pk=pk).first()
    if repository is None:
        raise ApplicationError(_("Choose one of the repositories."), errors={"repository": [_("Unknown repository.")]})
    return repository


def _link(request: HttpRequest, ticket) -> GitHubIssueLink:
    link = github_selectors.link_list(ticket=ticket).filter(pk=request.POST.get("link") or 0).first()
    if link is None:
        raise Http404(_("This ticket has no such linked issue."))
    return link


@agent_required
@require_POST
def github_view(request: HttpRequest, number: int) -> HttpResponse:
    """action=create (repository), link (repository, issue), retry (link), unlink (link)."""
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    action = request.POST.get("action", "")
    try:
        if action == "create":
            repository = _repository(request)
            link = github.github_issue_create(actor=request.user, ticket=ticket, connector=repository.connector,
                                              repo=repository.full_name)
            messages.success(request, _("An issue in %(repo)s is being created.") % {"repo": link.repo})
        elif action == "link":
            repository = _repository(request)
            link = github.github_issue_link(actor=request.user, ticket=ticket, connector=repository.connector,
                                            repo=repository.full_name, number=request.POST.get("issue", ""))
            messages.success(request, _("Linked to %(repo)s#%(number)s.") % {"repo": link.repo, "number": link.number})
        elif action == "retry":
            github.github_issue_retry(actor=request.user, link=_link(request, ticket))
            messages.success(request, _("The issue is being created again."))
        elif action == "unlink":
            link = _link(request, ticket)
            github.github_issue_unlink(actor=request.user, link=link)
            messages.success(request, _("The link to %(repo)s is removed; the issue stays on GitHub.") % {
                "repo": link.repo})
        else:
            raise ApplicationError(_("Unknown action."), errors={"action": [_("Use create, link, retry or unlink.")]})
    except ApplicationError as exc:
        _refused(request, exc)
    return _back(number)


@agent_required
@require_POST
def servicenow_undo_view(request: HttpRequest, number: int, writeback_id: int) -> HttpResponse:
    """Undo one write-back of this ticket's incident (a reason is required)."""
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    writeback = servicenow.writeback_list(ticket_id=ticket.pk).filter(pk=writeback_id).first()
    if writeback is None:
        raise Http404(_("This ticket has no write-back %(id)s.") % {"id": writeback_id})
    try:
        undo = writeback_undo(actor=request.user, writeback=writeback, reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        _refused(request, exc)
        return _back(number)
    if undo.status in (WriteBackStatus.SENT, WriteBackStatus.DRY_RUN):
        messages.success(request, _("Write-back #%(id)s: %(status)s.") % {"id": writeback.pk,
                                                                          "status": undo.get_status_display()})
    else:
        messages.error(request, _("Write-back #%(id)s was not undone: %(status)s. %(detail)s") % {
            "id": writeback.pk, "status": undo.get_status_display(), "detail": undo.detail})
    return _back(number)


def panel(ticket) -> dict:
    """What `{% connected_panel ticket %}` shows; empty when the tenant connects nothing
    to this ticket (the panel is then left out). A tenant without connectors pays one query."""
    if not Connector.objects.exists():
        return {}
    source = servicenow.ticket_source(ticket_id=ticket.pk)
    writebacks = list(servicenow.writeback_list(ticket_id=ticket.pk).select_related("undo_of")[:20]) if source else []
    links = list(github_selectors.link_list(ticket=ticket))
    repositories = list(github_selectors.repository_list())
    if not (source or writebacks or links or repositories):
        return {}
    rows = [{"row": w, "deadline": undo_deadline(w),
             "undoable": w.kind == WriteBackKind.WRITE and w.status == WriteBackStatus.SENT} for w in writebacks]
    return {"source": source, "writebacks": rows, "links": links, "repositories": repositories}
