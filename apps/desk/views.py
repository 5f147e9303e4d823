"""The agent desk: queue, ticket detail and Kanban board. Thin views.

Each view parses a form, reads through `apps.tickets.selectors`, writes through
`apps.tickets.services`, and renders. Errors of the services (`ApplicationError`) come
back inline on the form that caused them; a policy denial caught here is persisted
(`persist_denial`) exactly as the error middleware would have done.

htmx: the queue answers a request whose HX-Target is `queue-results` with that region
only; the ticket page's in-place editors (`edit_view`) get their editor, and after a save
the changed regions out of band; everything else is a full page, so the desk works
without JavaScript.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import ApplicationError
from apps.core.keyset import InvalidCursor
from apps.core.problems import persist_denial
from apps.sla import selectors as sla_selectors
from apps.tickets import search as ticket_search
from apps.tickets import selectors, services, workflow
from apps.tickets.choices import Priority, ResolutionCode, TicketStatus
from apps.tickets.markdown import render_markdown

from . import edits, forms, lookups, queue, saved_views, sla_views, timeline, triage
from .access import agent_required

RESULTS_TARGET = "queue-results"
BULK_REPORT_KEY = "desk_bulk_report"
BOARD_COLUMN_LIMIT = 20
STATUS_LABELS = dict(TicketStatus.choices)
# Columns of the queue (key, unused). Every column sorts except "sla" (the badge): "due",
# the soonest due time of the ticket's running clocks, is its sortable twin.
UNSORTABLE = frozenset({"sla"})
COLUMNS = (
    ("number", "#"),
    ("title", None),
    ("status", None),
    ("priority", None),
    ("sla", None),
    ("due", None),
    ("assignee", None),
    ("team", None),
    ("updated", None),
)


# What a queue row or a board card shows: the rest of the row (descriptions, search
# vectors, the requester and category joins) is never read from the database.
ROW_FIELDS = ("number", "title", "status", "priority", "updated_at", "assignee__full_name", "assignee__email",
              "team__name")


def _rows(tickets):
    return tickets.select_related(None).select_related("assignee", "team").only(*ROW_FIELDS)


def _queue_rows(tickets):
    """`_rows` with the clocks a queue row reads (its badge and Due column), nothing more."""
    return _rows(tickets).prefetch_related(None).prefetch_related(sla_selectors.badge_clock_prefetch())


def _labelled(rows: list, *, sla: bool = True) -> list:
    """Rows with `status_label` and `priority_label`, translated once per page rather
    than through get_FOO_display() per row (which hashes every lazy choice label), and,
    with `sla`, `sla_due`, the soonest due time of their running clocks (from the
    prefetched clocks, the value the "Due" column sorts on)."""
    statuses = {value: str(label) for value, label in TicketStatus.choices}
    priorities = {value: str(label) for value, label in Priority.choices}
    for row in rows:
        row.status_label = statuses.get(row.status, row.status)
        row.priority_label = priorities.get(row.priority, row.priority)
        if sla:
            row.sla_due = sla_selectors.ticket_next_due(row)
    return rows


def _column_labels() -> dict[str, str]:
    """The queue's column headings in the active language (translated once per page)."""
    return {
        "number": _("Number"),
        "title": _("Title"),
        "status": _("Status"),
        "priority": _("Priority"),
        "sla": _("SLA"),
        "due": _("Due"),
        "assignee": _("Assignee"),
        "team": _("Team"),
        "updated": _("Updated"),
        "relevance": _("Relevance"),
    }


def _snippet_labels() -> dict[str, str]:
    """What a search result's snippet is taken from, by `search.SOURCES`."""
    return {
        ticket_search.SOURCE_DESCRIPTION: _("Description"),
        ticket_search.SOURCE_RESOLUTION: _("Resolution note"),
        ticket_search.SOURCE_COMMENT: _("Comment"),
        ticket_search.SOURCE_INTERNAL: _("Internal note"),
    }


def _ticket_url_parts() -> tuple[str, str]:
    """The ticket page's URL around its number, so that a list builds one per row
    without reversing the route every time."""
    marker = 987654321
    head, _sep, tail = reverse("desk:ticket", args=[marker]).rpartition(str(marker))
    return head, tail


def _htmx_target(request: HttpRequest) -> str | None:
    if request.headers.get("HX-Request") != "true" or request.headers.get("HX-History-Restore-Request"):
        return None
    return request.headers.get("HX-Target")


def _query(params: QueryDict, **changes) -> str:
    """`params` as a query string with `changes` applied (None removes a key)."""
    query = params.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def _options() -> dict:
    return {
        "teams": list(selectors.team_list()),
        "agents": list(lookups.agent_list()),
        "categories": list(selectors.category_list()),
        "tags": list(selectors.tag_list()),
    }


# --- Queue --------------------------------------------------------------------------------


def _queue_context(request: HttpRequest, params: QueryDict, options: dict | None = None) -> dict:
    options = options or _options()
    params = params.copy()
    for key in ("cursor", "sort", "per_page"):  # single-valued; keep the last one sent
        if key in params:
            params[key] = params.getlist(key)[-1]
    form = forms.QueueFilterForm(params, **options)
    form.is_valid()
    filters = form.selector_filters()
    sla_states = form.sla_states()
    error = None
    try:
        # With a search, rows say why they matched (`search.hit`: title and snippet marked).
        tickets = selectors.ticket_list(actor=request.user, filters=filters, highlight=True)
    except ApplicationError as exc:
        forms.apply_errors(form, exc.errors, exc.message)
        error = exc.message
        tickets = selectors.ticket_visible_queryset(actor=request.user).none()
    # The search text when the list is a search (its default order is relevance).
    search_text = filters.get("q") if ticket_search.is_ranked(tickets) else None
    if form.matches_nothing():
        tickets = tickets.none()
    if sla_states:
        tickets = sla_selectors.tickets_with_sla_state(tickets, states=sla_states, now=timezone.now())
    all_due = bool(sla_states) and set(sla_states) <= sla_selectors.STATES_WITH_DUE_TIME
    cursor_error = None
    try:
        page = queue.paginate(_queue_rows(tickets), sort=params.get("sort"), cursor=params.get("cursor"),
                              size=form.page_size(), all_due=all_due, search_text=search_text)
    except InvalidCursor:
        # A link that is not ours, out of date or of another sort: said so, with the first page.
        cursor_error = _("This page link is not valid (it is out of date, damaged or for another sort order). "
                         "Showing the first page.")
        params.pop("cursor", None)
        page = queue.paginate(_queue_rows(tickets), sort=params.get("sort"), cursor=None, size=form.page_size(),
                              all_due=all_due, search_text=search_text)
    # The filter form carries a sort only when one was chosen: a search typed into a queue
    # in its default order is then sorted by relevance.
    sort_value = queue.sort_param(page.column, page.descending) if (params.get("sort") or "").strip() else ""
    base = params.copy()
    base.pop("cursor", None)
    labels = _column_labels()
    headers = []
    for key, _symbol in COLUMNS:
        active = page.column == key
        # First click sorts the natural way (text ascending, dates and numbers newest first,
        # due times soonest first).
        natural_desc = key in ("number", "updated")
        descending = (not page.descending) if active else natural_desc
        headers.append({
            "key": key,
            "label": labels[key],
            "url": None if key in UNSORTABLE else _query(base, sort=queue.sort_param(key, descending)),
            "aria_sort": ("descending" if page.descending else "ascending") if active else None,
        })
    filtered = bool(filters) or bool(sla_states) or form.matches_nothing()
    row_labels = dict(labels)
    row_labels.update(unassigned=_("Unassigned"), tags=_("Tags"))
    snippet_labels = _snippet_labels()
    select_label = _("Select ticket #%(number)s")
    url_head, url_tail = _ticket_url_parts()
    for row in page.rows:
        row.select_label = select_label % {"number": row.number}
        row.url = f"{url_head}{row.number}{url_tail}"  # reverse() once per page, not per row
        row.search_hit = ticket_search.hit(row)
        row.snippet_label = snippet_labels.get(row.search_hit.source) if row.search_hit else None
    return {
        "searched": search_text is not None,
        "by_relevance": page.column == queue.RELEVANCE,
        "relevance_url": _query(base, sort=queue.RELEVANCE) if search_text is not None else None,
        "row_labels": row_labels,
        "form": form,
        "page": page,
        "tickets": _labelled(page.rows),
        "headers": headers,
        "sort_value": sort_value,
        "filter_error": error,
        "cursor_error": cursor_error,
        "filtered": filtered,
        "query_string": params.urlencode(),
        "next_url": _query(base, cursor=page.next_cursor) if page.next_cursor else None,
        "previous_url": _query(base, cursor=page.previous_cursor) if page.previous_cursor else None,
        "bulk_form": forms.BulkForm(agents=options["agents"], teams=options["teams"],
                                    categories=options["categories"]),
        "status_choices": TicketStatus.choices,
        "resolution_choices": ResolutionCode.choices,
        "saved_views_enabled": saved_views.enabled(),
        "saved_views": saved_views.saved_view_list(actor=request.user),
        "saved_view_form": forms.SavedViewForm(teams=_my_teams(request, options["teams"])),
        **options,
    }


def _my_teams(request: HttpRequest, teams: list) -> list:
    if not saved_views.enabled():
        return []
    mine = set(request.user.memberships.values_list("team_id", flat=True))
    return [t for t in teams if t.pk in mine]


@agent_required
@require_GET
def queue_view(request: HttpRequest) -> HttpResponse:
    context = _queue_context(request, request.GET)
    context["bulk_report"] = request.session.pop(BULK_REPORT_KEY, None)
    # A bad cursor is the desk's form-error status (htmx swaps 422: the message shows in place).
    status = 422 if context["cursor_error"] else 200
    if _htmx_target(request) == RESULTS_TARGET:
        context["partial_sort"] = True
        response = render(request, "desk/_queue_results.html", context, status=status)
    else:
        response = render(request, "desk/queue.html", context, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


def _bulk_action_label(form: forms.BulkForm) -> str:
    data = form.cleaned_data
    action = data["action"]
    if action == forms.BulkForm.ACTION_ASSIGN:
        return _("Assign")
    if action == forms.BulkForm.ACTION_STATUS:
        return _("Change status to %(status)s") % {"status": STATUS_LABELS.get(data["to"], data["to"])}
    if action == forms.BulkForm.ACTION_CATEGORY:
        label = dict(form.fields["category"].choices).get(data["category"], data["category"])
        return _("Change category to %(category)s") % {"category": label}
    if action == forms.BulkForm.ACTION_PRIORITY:
        levels = dict(form.fields["impact"].choices)
        parts = []
        if data.get("impact"):
            parts.append(_("impact %(level)s") % {"level": levels[data["impact"]]})
        if data.get("urgency"):
            parts.append(_("urgency %(level)s") % {"level": levels[data["urgency"]]})
        return _("Set %(levels)s") % {"levels": ", ".join(parts)}
    return _("Add tags %(tags)s") % {"tags": ", ".join(form.tag_names())}


def _bulk_one(actor, ticket, form: forms.BulkForm) -> None:
    """One ticket of a bulk action, through the tickets services (each on its own)."""
    data = form.cleaned_data
    action = data["action"]
    if action == forms.BulkForm.ACTION_ASSIGN:
        services.ticket_assign(actor=actor, ticket=ticket, **form.assign_kwargs(actor))
    elif action == forms.BulkForm.ACTION_STATUS:
        services.ticket_transition(
            actor=actor, ticket=ticket, to=data["to"], reason=data.get("reason") or "",
            resolution_code=data.get("resolution_code") or "", resolution_note=data.get("resolution_note") or "",
        )
    elif action == forms.BulkForm.ACTION_TAGS:
        edits.tags_add(actor=actor, ticket=ticket, names=form.tag_names())
    else:
        services.ticket_update(actor=actor, ticket=ticket, **form.update_kwargs())


def _run_bulk(actor, form: forms.BulkForm) -> dict:
    numbers = form.cleaned_data["ticket"]
    found = {t.number: t for t in selectors.ticket_visible_queryset(actor=actor).filter(number__in=numbers)}
    done: list[int] = []
    refused: list[dict] = []
    for number in numbers:
        ticket = found.get(number)
        if ticket is None:
            refused.append({"number": number, "message": _("There is no such ticket.")})
            continue
        try:
            _bulk_one(actor, ticket, form)
        except ApplicationError as exc:
            persist_denial(exc)
            refused.append({"number": number, "message": exc.message})
        else:
            done.append(number)
    return {"action": str(_bulk_action_label(form)), "done": done, "refused": refused}


@agent_required
@require_POST
def bulk_view(request: HttpRequest) -> HttpResponse:
    options = _options()
    form = forms.BulkForm(request.POST, agents=options["agents"], teams=options["teams"],
                          categories=options["categories"])
    back = QueryDict(request.POST.get("back", "")[:2000])
    if form.is_valid():
        report = _run_bulk(request.user, form)
    else:
        report = {"action": "", "done": [], "refused": [],
                  "errors": [str(m) for messages_ in form.errors.values() for m in messages_]}
    if _htmx_target(request) == RESULTS_TARGET:
        context = _queue_context(request, back, options)
        context.update(bulk_report=report, partial_sort=True)
        response = render(request, "desk/_queue_results.html", context, status=200 if form.is_valid() else 422)
        patch_vary_headers(response, ["HX-Request", "HX-Target"])
        return response
    request.session[BULK_REPORT_KEY] = report
    return redirect(reverse("desk:queue") + _query(back, cursor=None))


# --- Saved views -------------------------------------------------------------------------


@agent_required
@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    options = _options()
    form = forms.SavedViewForm(request.POST, teams=_my_teams(request, options["teams"]))
    query = QueryDict(request.POST.get("query", "")[:2000])
    target = reverse("desk:queue") + _query(query, cursor=None)
    if not form.is_valid():
        messages.error(request, _("The view was not saved: %(errors)s") % {
            "errors": " ".join(str(m) for ms in form.errors.values() for m in ms)})
        return redirect(target)
    scope = form.cleaned_data["scope"]
    team = None
    if scope.startswith("team:"):
        team = next((t for t in options["teams"] if f"team:{t.pk}" == scope), None)
    data = {key: (query.getlist(key) if key in saved_views.LIST_KEYS else query.get(key))
            for key in saved_views.QUERY_KEYS}
    try:
        view = saved_views.saved_view_create(actor=request.user, name=form.cleaned_data["name"], query=data, team=team)
    except ApplicationError as exc:
        persist_denial(exc)
        messages.error(request, _("The view was not saved: %(reason)s") % {"reason": exc.message})
    else:
        messages.success(request, _("Saved the view “%(name)s”.") % {"name": view.name})
    return redirect(target)


@agent_required
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    view = saved_views.saved_view_get(actor=request.user, view_id=view_id)
    try:
        saved_views.saved_view_delete(actor=request.user, view=view)
    except ApplicationError as exc:
        persist_denial(exc)
        messages.error(request, _("The view was not deleted: %(reason)s") % {"reason": exc.message})
    else:
        messages.success(request, _("Deleted the view “%(name)s”.") % {"name": view.name})
    return redirect("desk:queue")


# --- Ticket detail -----------------------------------------------------------------------


def _targets(request: HttpRequest, ticket) -> list[tuple[str, str]]:
    role = getattr(request.user, "role", workflow.AGENT)
    allowed = workflow.allowed_targets(role, ticket.status)
    return [(s, STATUS_LABELS[s]) for s in workflow.STATUSES if s in allowed]


def _edit_options(key: str) -> dict:
    """The choices an in-place editor needs (only the categories, teams and agents it lists)."""
    if key == "category":
        return {"categories": list(selectors.category_list())}
    if key == "assignment":
        return {"teams": list(selectors.team_list()), "agents": list(lookups.agent_list())}
    return {}


def _edit_form(key: str, ticket, data=None, options: dict | None = None) -> forms.EditForm:
    form = forms.EDIT_FORMS[key](data, ticket=ticket, options=_edit_options(key) if options is None else options)
    if data is not None:
        form.is_valid()
    return form


def _edit_context(ticket) -> dict:
    """What the editable fields of the ticket page (header and details) need."""
    return {
        "can_edit": ticket.status not in workflow.TERMINAL,
        "priority_labels": dict(Priority.choices),
    }


def _render_detail(request: HttpRequest, ticket, *, status: int = 200, preview: str | None = None,
                   editing: forms.EditForm | None = None, **bound) -> HttpResponse:
    teams = list(selectors.team_list())
    targets = _targets(request, ticket)
    comments, attachments = timeline.load(actor=request.user, ticket=ticket)
    entries = timeline.build(actor=request.user, ticket=ticket, comments=comments, attachments=attachments,
                             teams={t.pk: t.name for t in teams})
    transition_form = bound.get("transition_form")
    if transition_form is None:
        wanted = request.GET.get("transition")
        initial = {"to": wanted} if wanted in dict(targets) else {}
        transition_form = forms.TransitionForm(targets=[t for t, _label in targets], initial=initial)
    else:
        transition_form.fields["to"].choices = [("", "—")] + targets
    if editing is None and request.GET.get("edit") in forms.EDIT_FORMS and ticket.status not in workflow.TERMINAL:
        # Without JavaScript an Edit button loads the page with that field's editor open.
        editing = _edit_form(request.GET["edit"], ticket)
    context = {
        "ticket": ticket,
        "description_html": timeline.safe_html(ticket.description_html),
        "entries": entries,
        "comment_form": bound.get("comment_form") or forms.CommentForm(),
        "transition_form": transition_form,
        "attachment_form": bound.get("attachment_form") or forms.AttachmentForm(),
        "editing": editing,
        # The suggestion counts every active ticket of the team's agents: it is fetched after
        # the page (htmx, /suggestion/) or inline on ?suggest=1 (without JavaScript).
        "suggestion": _suggestion(ticket) if request.GET.get("suggest") == "1" else None,
        "suggest_inline": request.GET.get("suggest") == "1",
        "targets": targets,
        "terminal": ticket.status in workflow.TERMINAL,
        "preview_html": preview,
        "status_labels": STATUS_LABELS,
        "resolution_labels": dict(ResolutionCode.choices),
        "open_form": bound.get("open_form", ""),
        "sla": sla_views.sla_panel(ticket),
        "triage_proposal": triage.waiting_proposal(ticket),
        **_edit_context(ticket),
    }
    return render(request, "desk/detail.html", context, status=status)


def _suggestion(ticket):
    if ticket.status in workflow.TERMINAL:
        return None
    return lookups.suggest_assignee(team_id=ticket.team_id, exclude_id=ticket.assignee_id)


@agent_required
@require_GET
def suggestion_view(request: HttpRequest, number: int) -> HttpResponse:
    """The assignment suggestion of one ticket (htmx fragment of the ticket page)."""
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    return render(request, "desk/_suggestion.html", {
        "ticket": ticket, "suggestion": _suggestion(ticket), "suggest_inline": True})


@agent_required
@require_GET
def ticket_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    return _render_detail(request, ticket)


def _detail_url(number: int, anchor: str = "") -> str:
    return reverse("desk:ticket", kwargs={"number": number}) + (f"#{anchor}" if anchor else "")


@agent_required
@require_POST
def comment_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    form = forms.CommentForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, ticket, comment_form=form, status=400, open_form="comment")
    body = form.cleaned_data["body"]
    if request.POST.get("action") == "preview":
        return _render_detail(request, ticket, comment_form=form, preview=timeline.safe_html(render_markdown(body)),
                              open_form="comment")
    try:
        comment = services.comment_add(actor=request.user, ticket=ticket, body=body, internal=form.internal)
    except ApplicationError as exc:
        persist_denial(exc)
        forms.apply_errors(form, exc.errors, exc.message)
        return _render_detail(request, ticket, comment_form=form, status=exc.status if exc.status < 500 else 400,
                              open_form="comment")
    messages.success(request, _("Internal note added.") if comment.internal else _("Reply added."))
    return redirect(_detail_url(number, f"comment-{comment.pk}"))


@agent_required
@require_POST
def preview_view(request: HttpRequest) -> HttpResponse:
    """The composer's preview: the body rendered by the tickets Markdown renderer."""
    form = forms.PreviewForm(request.POST)
    body = form.cleaned_data["body"] if form.is_valid() else ""
    return render(request, "desk/_preview.html", {"preview_html": timeline.safe_html(render_markdown(body))})


@agent_required
@require_POST
def transition_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    form = forms.TransitionForm(request.POST, targets=list(STATUS_LABELS))
    if not form.is_valid():
        return _render_detail(request, ticket, transition_form=form, status=400, open_form="transition")
    try:
        ticket = services.ticket_transition(actor=request.user, ticket=ticket, **form.service_kwargs())
    except ApplicationError as exc:
        persist_denial(exc)
        forms.apply_errors(form, exc.errors, exc.message)
        return _render_detail(request, ticket, transition_form=form, status=exc.status if exc.status < 500 else 400,
                              open_form="transition")
    messages.success(request, _("Ticket #%(number)s is now %(status)s.") % {
        "number": number, "status": STATUS_LABELS[ticket.status]})
    return redirect(_detail_url(number, "main"))


@agent_required
@require_POST
def assign_view(request: HttpRequest, number: int) -> HttpResponse:
    """Team and assignee in one post (the suggestion's one-click form; the page's
    assignment editor without JavaScript posts to `edit_view`). Refusals open the
    assignment editor with the service's errors."""
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    form = _edit_form("assignment", ticket, request.POST)
    if not form.is_valid():
        return _render_detail(request, ticket, editing=form, status=400)
    try:
        ticket = services.ticket_assign(actor=request.user, ticket=ticket, **form.service_kwargs())
    except ApplicationError as exc:
        persist_denial(exc)
        forms.apply_errors(form, exc.errors, exc.message)
        return _render_detail(request, ticket, editing=form, status=exc.status if exc.status < 500 else 400)
    if ticket.assignee is not None:
        messages.success(request, _("Assigned to %(name)s.") % {"name": str(ticket.assignee)})
    else:
        messages.success(request, _("The ticket is unassigned."))
    return redirect(_detail_url(number, "main"))


def _saved_message(form: forms.EditForm, ticket) -> str:
    if form.key == "title":
        return _("Title saved.")
    if form.key == "category":
        return _("Category saved.")
    if form.key == "priority":
        return _("Impact and urgency saved: the priority is now %(priority)s.") % {
            "priority": ticket.get_priority_display()}
    if form.key == "tags":
        return _("Tags saved.")
    return _("Team and assignee saved.")


def _hx_trigger(response: HttpResponse, name: str, detail: dict) -> HttpResponse:
    # ASCII JSON (\u escapes): header values must be Latin-1, messages may be Polish.
    response["HX-Trigger-After-Settle"] = json.dumps({name: detail})
    return response


@agent_required
@require_http_methods(["GET", "POST"])
def edit_view(request: HttpRequest, number: int) -> HttpResponse:
    """One field of the ticket page edited in place (`edit`: title, category, priority
    for impact and urgency, tags, assignment for team and assignee).

    GET (htmx): the field's editor, for its slot on the page; without htmx, the ticket
    page with that editor open. POST: saved through the tickets services
    (`edits.edit_save`). With htmx the answer swaps out of band the field values, the
    header's badges, the SLA panel and the timeline, and closes the editor; a refusal
    (invalid value, policy denial, closed ticket, somebody else's change) is the editor
    again with the errors next to the field and the agent's input kept (422). Without
    htmx: a redirect to the field, or the page with the editor open and its errors.
    """
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    key = (request.POST if request.method == "POST" else request.GET).get("edit", "")
    if key not in forms.EDIT_FORMS:
        raise Http404("No such field.")
    htmx = request.headers.get("HX-Request") == "true"
    if request.method == "GET":
        if not htmx:
            return redirect(_detail_url(number) + _query(QueryDict(), edit=key) + f"#edit-{key}")
        return render(request, "desk/_edit_form.html", {"ticket": ticket, "form": _edit_form(key, ticket)})
    options = _edit_options(key)
    form = _edit_form(key, ticket, request.POST, options)
    status = 400
    if form.is_valid():
        try:
            result = edits.edit_save(actor=request.user, number=number, form=form)
        except ApplicationError as exc:
            persist_denial(exc)
            if isinstance(exc, edits.EditConflict):
                form = form.with_seen(exc.current)
            forms.apply_errors(form, exc.errors, exc.message)
            status = exc.status if exc.status < 500 else 400
        else:
            ticket = selectors.ticket_get_visible(actor=request.user, number=number)
            message = _saved_message(form, ticket) if result.changed else _("Nothing to save: the value is unchanged.")
            if not htmx:
                messages.success(request, message)
                return redirect(_detail_url(number, f"edit-{key}"))
            comments, attachments = timeline.load(actor=request.user, ticket=ticket)
            context = {
                "ticket": ticket,
                "edit_key": key,
                "saved_key": key if result.changed else "",
                "entries": timeline.build(actor=request.user, ticket=ticket, comments=comments,
                                          attachments=attachments,
                                          teams={t.pk: t.name for t in selectors.team_list()}),
                "sla": sla_views.sla_panel(ticket),
                "terminal": ticket.status in workflow.TERMINAL,
                **_edit_context(ticket),
            }
            response = render(request, "desk/_edit_saved.html", context)
            return _hx_trigger(response, "desk:edit-saved", {"field": key, "message": str(message)})
    if not htmx:
        return _render_detail(request, ticket, editing=form, status=status)
    response = render(request, "desk/_edit_form.html", {"ticket": ticket, "form": form, "oob": True}, status=422)
    errors = [str(e) for e in form.non_field_errors()] + [str(e) for f in form for e in f.errors]
    return _hx_trigger(response, "desk:edit-refused", {"field": key, "message": " ".join(errors)})


@agent_required
@require_POST
def attachment_upload_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    form = forms.AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_detail(request, ticket, attachment_form=form, status=400, open_form="attachment")
    upload = form.cleaned_data["file"]
    try:
        attachment = services.attachment_add(
            actor=request.user, ticket=ticket, fileobj=upload, filename=upload.name, size=upload.size,
            visibility=form.cleaned_data["visibility"],
        )
    except ApplicationError as exc:
        persist_denial(exc)
        forms.apply_errors(form, exc.errors, exc.message)
        return _render_detail(request, ticket, attachment_form=form, status=exc.status if exc.status < 500 else 400,
                              open_form="attachment")
    if attachment.downloadable:
        messages.success(request, _("Attached “%(name)s”.") % {"name": attachment.original_name})
    else:
        messages.warning(request, _("“%(name)s” was stored but quarantined: the virus scanner could not check it.")
                         % {"name": attachment.original_name})
    return redirect(_detail_url(number, f"attachment-{attachment.pk}"))


@agent_required
@require_GET
def attachment_download_view(request: HttpRequest, number: int, attachment_id: int) -> HttpResponse:
    """Issue a short-lived signed link (tickets service, audited) and follow it."""
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    attachment = selectors.attachment_get_visible(actor=request.user, ticket=ticket, attachment_id=attachment_id)
    link = services.attachment_download_link(actor=request.user, attachment=attachment)
    return redirect(reverse("tickets:attachment-download", kwargs={"token": link.token}))


# --- Kanban board ------------------------------------------------------------------------


@agent_required
@require_GET
def board_view(request: HttpRequest) -> HttpResponse:
    options = _options()
    form = forms.QueueFilterForm(request.GET, **options)
    form.is_valid()
    filters = {k: v for k, v in form.selector_filters().items() if k != "status"}
    error = None
    try:
        tickets = selectors.ticket_list(actor=request.user, filters=filters)
    except ApplicationError as exc:
        forms.apply_errors(form, exc.errors, exc.message)
        error = exc.message
        tickets = selectors.ticket_visible_queryset(actor=request.user).none()
    if form.matches_nothing():
        tickets = tickets.none()
    # Cards show the SLA badge as the queue does: the clocks of every card on the board are
    # loaded once, after the columns (one query for the board, not one per column).
    tickets = _rows(tickets).prefetch_related(None)
    role = getattr(request.user, "role", workflow.AGENT)
    # Links to the queue (a column's "20+") carry the filters as the queue's form reads them.
    base = QueryDict(mutable=True)
    for key, value in form.query_values().items():
        if key == "status":
            continue
        if isinstance(value, list):
            base.setlist(key, value)
        else:
            base[key] = value
    columns = []
    labels = {value: str(label) for value, label in TicketStatus.choices}
    move_label = _("Move #%(number)s to")
    shown: list = []
    for status in workflow.STATUSES:
        cards = _labelled(list(tickets.filter(status=status).order_by("-updated_at", "-number")[: BOARD_COLUMN_LIMIT + 1]),
                          sla=False)
        more = len(cards) > BOARD_COLUMN_LIMIT
        cards = cards[:BOARD_COLUMN_LIMIT]
        shown.extend(cards)
        for card in cards:
            card.move_label = move_label % {"number": card.number}
        targets = [(s, labels[s]) for s in workflow.STATUSES if s in workflow.allowed_targets(role, status)]
        columns.append({
            "status": status,
            "label": labels[status],
            "cards": cards,
            "more": more,
            "targets": targets,
            "queue_url": reverse("desk:queue") + _query(base, status=status),
        })
    prefetch_related_objects(shown, sla_selectors.badge_clock_prefetch())
    return render(request, "desk/board.html", {
        "form": form, "columns": columns, "filter_error": error, "board_query": base.urlencode(),
        "resolution_choices": [(value, str(label)) for value, label in ResolutionCode.choices],
        "move_url": reverse("desk:board-move"), **options,
    })


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


NEEDS_FIELDS = ("reason", "resolution_code", "resolution_note")


@agent_required
@require_POST
def board_move_view(request: HttpRequest) -> HttpResponse:
    """A card moved to another column: a transition the tickets service checks.

    JSON (the board's script): `{ok, message, status?, needs?}`; a refusal keeps the
    service's HTTP status. Without JavaScript: back to the board with a message, or to
    the ticket's transition form when the move needs a reason or resolution.
    """
    form = forms.MoveForm(request.POST)
    back = reverse("desk:board") + _query(QueryDict(request.POST.get("back", "")[:2000]))
    if not form.is_valid():
        message = _("The move was not understood.")
        if _wants_json(request):
            return JsonResponse({"ok": False, "message": message, "errors": form.errors}, status=400)
        messages.error(request, message)
        return redirect(back)
    data = form.cleaned_data
    number, target = data["number"], data["to"]
    target_label = STATUS_LABELS[target]
    try:
        ticket = selectors.ticket_get_visible(actor=request.user, number=number)
        ticket = services.ticket_transition(
            actor=request.user, ticket=ticket, to=target, reason=data.get("reason") or "",
            resolution_code=data.get("resolution_code") or "", resolution_note=data.get("resolution_note") or "",
        )
    except ApplicationError as exc:
        persist_denial(exc)
        needs = [f for f in NEEDS_FIELDS if f in exc.errors]
        if needs and "to" not in exc.errors:
            message = _("Moving #%(number)s to %(status)s needs more information: %(reason)s") % {
                "number": number, "status": target_label, "reason": exc.message}
        else:
            message = _("#%(number)s was not moved to %(status)s: %(reason)s") % {
                "number": number, "status": target_label, "reason": exc.message}
        if _wants_json(request):
            return JsonResponse({"ok": False, "message": message, "needs": needs if "to" not in exc.errors else []},
                                status=exc.status if exc.status < 500 else 400)
        messages.error(request, message)
        if needs and "to" not in exc.errors:
            return redirect(reverse("desk:ticket", kwargs={"number": number}) + _query(QueryDict(), transition=target)
                            + "#transition")
        return redirect(back)
    message = _("#%(number)s moved to %(status)s.") % {"number": number, "status": target_label}
    if _wants_json(request):
        return JsonResponse({"ok": True, "message": message, "status": ticket.status})
    messages.success(request, message)
    return redirect(back)
