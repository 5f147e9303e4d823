"""Views of the requester portal. Thin: form -> selector -> service -> template.

What a requester may see comes from `apps.tickets.selectors` (a ticket that is not
theirs is 404; internal notes and internal files are never in the querysets a requester
gets). The portal is always the *requester's* view, also for an agent following a
ticket they raised themselves: the helpers below narrow the selectors' results to the
ticket's requester and the public conversation, they never widen them.

Every form works as a plain POST (redirect after success, the page again with errors
and status 422). With htmx (the `HX-Request` header) the new-ticket and reply forms
answer with fragments instead, so uploads can show their progress (static/tickets/portal.js).
The new-ticket form also shows when the request would be due (`ticket_new_due`, the
requester's view of `apps.sla.preview`: the resolution due time only).
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts import permissions
from apps.accounts.models import User
from apps.core.errors import ApplicationError, NotFound, PermissionDenied
from apps.notifications import selectors as notifications
from apps.notifications.services.watchers import ticket_cc_add, ticket_cc_remove
from apps.sla.preview import DuePreview, due_preview
from apps.tickets import search, selectors, services, workflow
from apps.tickets.choices import ResolvedReply, TicketStatus, Visibility
from apps.tickets.errors import CooldownActive
from apps.tickets.filters import Q_MAX_CHARS
from apps.tickets.markdown import render_markdown, sanitize_html
from apps.tickets.models import Ticket

from .forms import (
    IMPACT_CHOICES,
    URGENCY_CHOICES,
    CancelForm,
    CopyInForm,
    DuePreviewForm,
    ReopenForm,
    ReplyForm,
    TicketForm,
    due_inputs,
)

PAGE_SIZE = 25
# The list's tabs: name -> statuses shown.
SHOW = {
    "open": [TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.RESOLVED],
    "closed": [TicketStatus.CLOSED, TicketStatus.CANCELLED],
    "all": [],
    "copied": [],  # others' requests a colleague copied the user in on
}
INVALID = 422


def portal_view(view):
    """Signed-in users of this tenant only; anonymous visitors go to the sign-in page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not permissions.is_member(request.user):
            raise PermissionDenied(_("Sign in as a user of this organisation."))
        return view(request, *args, **kwargs)

    return wrapper


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- Reads (selectors, narrowed to the requester's view) -----------------------------------


def own_ticket(request: HttpRequest, number: int) -> Ticket:
    """The user's own ticket `number`; 404 for anything else (other requester, other
    tenant, missing: indistinguishable)."""
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    if ticket.requester_id != request.user.pk:
        raise NotFound(_("There is no ticket #%(number)s.") % {"number": number})
    return ticket


def readable_ticket(request: HttpRequest, number: int) -> Ticket:
    """The user's own ticket `number`, or one a colleague copied them in on (read only);
    404 for anything else, also for agents and admins, who work other people's tickets in
    the desk (the portal is the requester's view)."""
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    if ticket.requester_id != request.user.pk and not notifications.is_copied_in(ticket, request.user):
        raise NotFound(_("There is no ticket #%(number)s.") % {"number": number})
    return ticket


def public_comments(request: HttpRequest, ticket: Ticket) -> QuerySet:
    return selectors.comment_list(actor=request.user, ticket=ticket).filter(internal=False)


def public_attachments(request: HttpRequest, ticket: Ticket) -> QuerySet:
    return (
        selectors.attachment_list(actor=request.user, ticket=ticket)
        .filter(visibility=Visibility.PUBLIC)
        .exclude(comment__internal=True)
    )


def conversation(request: HttpRequest, ticket: Ticket) -> dict:
    """The public conversation: the description's files and each comment with its files."""
    files_by_comment: dict[int | None, list] = {}
    for attachment in public_attachments(request, ticket):
        files_by_comment.setdefault(attachment.comment_id, []).append(attachment)
    comments = list(public_comments(request, ticket))
    for comment in comments:
        comment.public_files = files_by_comment.get(comment.pk, [])
        comment.from_requester = comment.author_id == ticket.requester_id
        comment.mine = comment.author_id == request.user.pk
        # Stored HTML is sanitised at write time; cleaned again on the way out (markdown.py).
        comment.body_safe_html = sanitize_html(comment.body_html)
    return {"comments": comments, "ticket_files": files_by_comment.get(None, [])}


def can(request: HttpRequest, ticket: Ticket, target: str) -> bool:
    """Whether the workflow offers `target` to this user from the ticket's status (the
    service still asks the policies when the form is sent)."""
    return workflow.is_allowed(getattr(request.user, "role", ""), ticket.status, target)


def reply_hint(ticket: Ticket) -> str:
    """What sending a reply will do to the ticket, said before it is sent ("" when nothing
    special: a reply on an active ticket)."""
    if ticket.status == TicketStatus.CLOSED:
        return _("This request is closed. A reply opens a new request linked to this one.")
    if ticket.status == TicketStatus.RESOLVED:
        if selectors.desk_settings_get().resolved_reply == ResolvedReply.FOLLOW_UP:
            return _("Replying opens a new request linked to this one; this one is then closed.")
        return _("Replying reopens this request for the team.")
    return ""


def detail_context(request: HttpRequest, ticket: Ticket, **forms) -> dict:
    closed = ticket.status in workflow.TERMINAL
    own = ticket.requester_id == request.user.pk
    follow_ups = list(selectors.ticket_follow_ups(actor=request.user, ticket=ticket)
                      .filter(requester=request.user).only("number"))
    context = {
        "ticket": ticket,
        **conversation(request, ticket),
        "description_html": sanitize_html(ticket.description_html),
        "impact_label": dict(IMPACT_CHOICES).get(ticket.impact, ""),
        "urgency_label": dict(URGENCY_CHOICES).get(ticket.urgency, ""),
        "resolution_html": render_markdown(ticket.resolution_note) if ticket.status == TicketStatus.RESOLVED else "",
        # A requester's reply on a closed ticket opens a follow-up; a cancelled one takes none.
        "can_reply": own and (not closed or ticket.status == TicketStatus.CLOSED),
        "reply_hint": reply_hint(ticket),
        "follow_up_of_number": getattr(ticket, "follow_up_of_number", None),
        "follow_ups": follow_ups,
        "can_reopen": own and ticket.status == TicketStatus.RESOLVED and can(request, ticket, TicketStatus.OPEN),
        "can_cancel": own and can(request, ticket, TicketStatus.CANCELLED),
        "own": own,
        "copied_in": notifications.copied_in(ticket),
        "cc_form": forms.get("cc_form") or CopyInForm(),
        "reply_form": forms.get("reply_form") or ReplyForm(),
        "reopen_form": forms.get("reopen_form") or ReopenForm(),
        "cancel_form": forms.get("cancel_form") or CancelForm(),
        "reply_sent": forms.get("reply_sent", False),
        "oob_status": forms.get("oob_status", False),
    }
    return context


# --- Pages -------------------------------------------------------------------------------


@require_GET
@portal_view
def ticket_list(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "open")
    if show not in SHOW:
        show = "open"
    q = (request.GET.get("q") or "").strip()
    filters = QueryDict(mutable=True)
    if show != "copied":
        filters["requester"] = str(request.user.pk)
    if q:
        filters["q"] = q  # most relevant first (a requester's own requests: few enough to rank all)
    else:
        filters["ordering"] = "-updated_at"
    filters.setlist("status", [str(s) for s in SHOW[show]])
    search_error = None
    try:
        # The search matches and marks only what the requester may read (never internal notes).
        tickets = selectors.ticket_list(actor=request.user, filters=filters, highlight=True)
    except ApplicationError as exc:
        search_error = " ".join(str(m) for m in exc.errors.get("q", [])) or exc.message
        tickets = selectors.ticket_visible_queryset(actor=request.user).none()
    if show == "copied":
        tickets = tickets.exclude(requester=request.user)
    page = Paginator(tickets, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    labels = {search.SOURCE_DESCRIPTION: _("Description"), search.SOURCE_RESOLUTION: _("Resolution note"),
              search.SOURCE_COMMENT: _("Comment")}
    for ticket in page.object_list:
        ticket.search_hit = search.hit(ticket)
        ticket.snippet_label = labels.get(ticket.search_hit.source) if ticket.search_hit else None
    tabs = [("open", _("Open")), ("closed", _("Closed")), ("all", _("All")), ("copied", _("Copied in"))]
    return render(request, "portal/list.html", {
        "page": page, "show": show, "tabs": tabs, "q": q, "search_error": search_error,
        "q_param": urlencode({"q": q}) if q else "", "q_max": Q_MAX_CHARS,
    })


def new_form_due(form) -> DuePreview:
    """The due-time preview of what the new-request form holds (the requester's view of it:
    the resolution due time only, nothing about the policy)."""
    if form.is_bound:
        data = getattr(form, "cleaned_data", {})
    else:
        data = {name: form.get_initial_for_field(form.fields[name], name) for name in ("category", "impact", "urgency")}
    return due_preview(**due_inputs(data)).public()


@require_http_methods(["GET", "POST"])
@portal_view
def ticket_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        form = TicketForm()
        return render(request, "portal/new.html", {"form": form, "due": new_form_due(form)})
    form = TicketForm(request.POST, request.FILES)
    ticket = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            ticket = services.ticket_create(
                actor=request.user,
                title=data["title"],
                description=data["description"],
                category=data["category"],
                impact=data["impact"],
                urgency=data["urgency"],
            )
        except ApplicationError as exc:
            _form_errors(form, exc, fields=("title", "description", "category", "impact", "urgency"))
    if ticket is None:
        template = "portal/_new_form.html" if is_htmx(request) else "portal/new.html"
        return render(request, template, {"form": form, "due": new_form_due(form)}, status=INVALID)
    refused = _attach(request, ticket, form.cleaned_data["files"])
    messages.success(request, _("Your request #%(number)s was sent.") % {"number": ticket.number})
    for name, reason in refused:
        messages.error(
            request,
            _("“%(name)s” was not attached: %(reason)s You can add it again below.") % {"name": name, "reason": reason},
        )
    return _redirect(request, reverse("portal:detail", args=[ticket.number]))


@require_GET
@portal_view
def ticket_new_due(request: HttpRequest) -> HttpResponse:
    """When a request with the new-request form's category, impact and urgency would be
    due if sent now (htmx fragment: the inside of the form's #due-preview)."""
    form = DuePreviewForm(request.GET)
    form.is_valid()
    response = render(request, "portal/_due_preview.html", {"due": new_form_due(form)})
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@portal_view
def ticket_detail(request: HttpRequest, number: int) -> HttpResponse:
    ticket = readable_ticket(request, number)
    return render(request, "portal/detail.html", detail_context(request, ticket))


@require_POST
@portal_view
def ticket_cc_add_view(request: HttpRequest, number: int) -> HttpResponse:
    """The requester copies a colleague in (by email)."""
    ticket = own_ticket(request, number)
    form = CopyInForm(request.POST)
    if form.is_valid():
        try:
            watcher = ticket_cc_add(actor=request.user, ticket=ticket, email=form.cleaned_data["email"])
        except ApplicationError as exc:
            _form_errors(form, exc, fields=("email",))
        else:
            messages.success(request, _("%(name)s is copied in on this request.")
                             % {"name": watcher.user.full_name or watcher.user.email})
            return redirect(reverse("portal:detail", args=[ticket.number]) + "#copied-in")
    return render(request, "portal/detail.html", detail_context(request, ticket, cc_form=form), status=INVALID)


@require_POST
@portal_view
def ticket_cc_remove_view(request: HttpRequest, number: int, user_id: int) -> HttpResponse:
    """The requester removes a colleague, or a colleague stops receiving updates."""
    ticket = readable_ticket(request, number)
    person = User.objects.filter(pk=user_id).first()
    if person is None:
        raise NotFound(_("Nobody with this id is copied in."))
    ticket_cc_remove(actor=request.user, ticket=ticket, user=person)
    if person.pk == request.user.pk and ticket.requester_id != request.user.pk:
        messages.success(request, _("You will no longer hear of request #%(number)s.") % {"number": ticket.number})
        return redirect("portal:list")
    messages.success(request, _("%(name)s is no longer copied in.") % {"name": person.full_name or person.email})
    return redirect(reverse("portal:detail", args=[ticket.number]) + "#copied-in")


@require_POST
@portal_view
def ticket_reply(request: HttpRequest, number: int) -> HttpResponse:
    ticket = own_ticket(request, number)
    form = ReplyForm(request.POST, request.FILES)
    sent = False
    status = 200
    if form.is_valid() and ticket.status == TicketStatus.CLOSED and not (form.cleaned_data["body"] or "").strip():
        form.add_error("body", _("Write what is wrong: your reply opens a new request."))
    if form.is_valid():
        body = (form.cleaned_data["body"] or "").strip()
        comment = None
        outcome = None
        try:
            if body:
                outcome = services.reply_add(actor=request.user, ticket=ticket, body=body)
                comment = outcome.comment
        except CooldownActive as exc:
            form.add_error(
                "body",
                _("You replied a moment ago. Please wait %(seconds)s seconds and send again.")
                % {"seconds": exc.retry_after},
            )
        except ApplicationError as exc:
            _form_errors(form, exc, fields=("body",))
        else:
            if outcome is not None and (outcome.follow_up is not None or outcome.reopened):
                return _reply_moved(request, ticket, outcome, form.cleaned_data["files"])
            refused = _attach(request, ticket, form.cleaned_data["files"], comment=comment)
            sent = comment is not None or len(refused) < len(form.cleaned_data["files"])
            if refused:
                form = ReplyForm.refused_files(
                    [_("“%(name)s” was not attached: %(reason)s") % {"name": name, "reason": reason} for name, reason in refused]
                )
            elif not is_htmx(request):
                messages.success(request, _("Your reply was sent."))
                return redirect("portal:detail", number=ticket.number)
            else:
                form = ReplyForm()
    if form.errors:
        status = INVALID
    ticket = own_ticket(request, number)  # fresh status (a reply reopens a pending ticket)
    context = detail_context(request, ticket, reply_form=form, reply_sent=sent, oob_status=is_htmx(request))
    template = "portal/_conversation.html" if is_htmx(request) else "portal/detail.html"
    return render(request, template, context, status=status)


@require_POST
@portal_view
def ticket_reopen(request: HttpRequest, number: int) -> HttpResponse:
    ticket = own_ticket(request, number)
    form = ReopenForm(request.POST)
    status = INVALID
    retry_after = 0
    if form.is_valid():
        try:
            services.ticket_transition(
                actor=request.user, ticket=ticket, to=TicketStatus.OPEN, reason=form.cleaned_data["reason"]
            )
        except CooldownActive as exc:
            status, retry_after = 429, exc.retry_after
            form.add_error(
                "reason",
                _("This request was reopened a short while ago. You can reopen it again in %(seconds)s seconds.")
                % {"seconds": exc.retry_after},
            )
        except ApplicationError as exc:
            _form_errors(form, exc, fields=("reason",))
        else:
            messages.success(request, _("Your request was reopened. The team will look at it again."))
            return redirect("portal:detail", number=ticket.number)
    response = render(request, "portal/detail.html", detail_context(request, ticket, reopen_form=form),
                      status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@require_POST
@portal_view
def ticket_cancel(request: HttpRequest, number: int) -> HttpResponse:
    ticket = own_ticket(request, number)
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            services.ticket_transition(
                actor=request.user, ticket=ticket, to=TicketStatus.CANCELLED, reason=form.cleaned_data["reason"]
            )
        except ApplicationError as exc:
            _form_errors(form, exc, fields=("reason",))
        else:
            messages.success(request, _("Your request was cancelled."))
            return redirect("portal:detail", number=ticket.number)
    return render(request, "portal/detail.html", detail_context(request, ticket, cancel_form=form),
                  status=INVALID)


@require_GET
@portal_view
def attachment_download(request: HttpRequest, number: int, attachment_id: int) -> HttpResponse:
    """A signed, short-lived link (audited) to the file, then the API's download view."""
    ticket = readable_ticket(request, number)
    attachment = public_attachments(request, ticket).filter(pk=attachment_id).first()
    if attachment is None:
        raise NotFound(_("This file does not exist."))
    link = services.attachment_download_link(actor=request.user, attachment=attachment)
    return redirect(reverse("tickets:attachment-download", kwargs={"token": link.token}))


def _reply_moved(request: HttpRequest, ticket: Ticket, outcome, files) -> HttpResponse:
    """A reply that reopened its request, or opened a follow-up: say so on the page it
    leads to (a full page: the status, the resolution and the actions all changed)."""
    if outcome.follow_up is not None:
        target = outcome.follow_up
        refused = _attach(request, target, files)  # the reply's files go with it, to the new request
        if ticket.status == TicketStatus.RESOLVED:  # as it was when the reply was sent
            message = _("This request was resolved, so your reply was sent as a new request #%(number)s, "
                        "linked to it. The resolved request is now closed.")
        else:
            message = _("This request was already closed, so your reply was sent as a new request #%(number)s, "
                        "linked to it.")
        messages.success(request, message % {"number": target.number})
    else:
        target = outcome.ticket
        refused = _attach(request, target, files, comment=outcome.comment)
        messages.success(request, _("Your reply reopened this request. The team will look at it again."))
    for name, reason in refused:
        messages.error(request, _("“%(name)s” was not attached: %(reason)s") % {"name": name, "reason": reason})
    return _redirect(request, reverse("portal:detail", args=[target.number]))


# --- Helpers -----------------------------------------------------------------------------


def _attach(request: HttpRequest, ticket: Ticket, files, comment=None) -> list[tuple[str, str]]:
    """Store each upload through the service; (file name, reason) of every refused one.
    A refusal never undoes what was stored before it."""
    refused: list[tuple[str, str]] = []
    for upload in files:
        try:
            services.attachment_add(
                actor=request.user, ticket=ticket, fileobj=upload, filename=upload.name, size=upload.size, comment=comment
            )
        except ApplicationError as exc:  # UploadRejected, Conflict (attachment limit), ...
            refused.append((upload.name, exc.message))
    return refused


def _form_errors(form, exc: ApplicationError, *, fields: tuple[str, ...]) -> None:
    """A service's refusal as form errors: on the fields it names, else on the form."""
    placed = False
    for field, field_messages in (exc.errors or {}).items():
        if field in fields:
            for message in field_messages:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if is_htmx(request):
        response = HttpResponse(status=200)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
