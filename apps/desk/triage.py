"""The desk's triage queue: the routings proposed for new tickets, approved (as they are
or edited first) or rejected by a person. Thin views over `apps.triage`.

Three tabs (`?show=`): the proposals waiting for a decision (oldest first), the tickets
that need a person because no classifier could propose anything (`unclassified`), and
the recent decisions with who decided, through which channel, and what the write-back
to ServiceNow did. Every decision goes through `apps.triage.services`; a refusal (stale,
already decided, denied, a missing reason) is shown with the service's message, on the
form that caused it or at the top of the page.

htmx: an entry's Approve and Reject forms post with HX-Target `proposal-<id>` and get
that entry back (422 with the message when refused, so htmx swaps it); everything else
is a full page, and the queue works without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django import forms as django_forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.connectors.servicenow.models import WriteBackStatus
from apps.connectors.servicenow.selectors import ticket_sources
from apps.core.errors import ApplicationError
from apps.core.problems import persist_denial
from apps.tickets import selectors as ticket_selectors
from apps.tickets.choices import URGENCY_CHOICES, Level, TicketSource
from apps.triage import selectors as triage_selectors
from apps.triage import services as triage_services
from apps.triage.choices import FIELDS, Classifier, ProposalStatus, Verdict
from apps.triage.models import Proposal

from .access import agent_required
from .forms import DeskForm, apply_errors

QUEUE_LIMIT = 100
DECIDED_LIMIT = 50
DECIDED_STATUSES = (ProposalStatus.APPLIED, ProposalStatus.FAILED, ProposalStatus.REJECTED, ProposalStatus.SUPERSEDED)
TAB_WAITING, TAB_PERSON, TAB_DECIDED = "waiting", "person", "decided"
TABS = (
    (TAB_WAITING, gettext_lazy("Waiting for approval")),
    (TAB_PERSON, gettext_lazy("Needs a person")),
    (TAB_DECIDED, gettext_lazy("Recently decided")),
)
FIELD_LABELS = {
    "category": gettext_lazy("Category"),
    "team": gettext_lazy("Team"),
    "impact": gettext_lazy("Impact"),
    "urgency": gettext_lazy("Urgency"),
    "work_note": gettext_lazy("Work note"),
}


# --- Names of what a proposal changes ------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """Category paths, team names and level labels, read once per page."""

    categories: dict[int, str]
    teams: dict[int, str]

    @classmethod
    def load(cls) -> Names:
        categories = list(ticket_selectors.category_list(include_archived=True))
        return cls(categories=category_paths(categories),
                   teams={t.pk: t.name for t in ticket_selectors.team_list()})

    def label(self, name: str, value) -> str:
        if value in (None, ""):
            return str(_("none"))
        if name == "category":
            return self.categories.get(value, _("category %(id)s") % {"id": value})
        if name == "team":
            return self.teams.get(value, _("team %(id)s") % {"id": value})
        if name == "impact":
            return str(dict(Level.choices).get(value, value))
        if name == "urgency":
            return str(dict(URGENCY_CHOICES).get(value, value))
        return str(value)


def category_paths(categories) -> dict[int, str]:
    """Each category's path from its root ("Hardware › Printers")."""
    by_id = {c.pk: c for c in categories}
    paths: dict[int, str] = {}
    for category in categories:
        parts, seen, node = [], set(), category
        while node is not None and node.pk not in seen:
            seen.add(node.pk)
            parts.append(node.name)
            node = by_id.get(node.parent_id)
        paths[category.pk] = " › ".join(reversed(parts))
    return paths


@dataclass(frozen=True)
class Change:
    name: str
    label: str
    current: str
    proposed: str
    moved: bool = False  # the ticket's value is no longer the one the proposal saw


def proposal_diff(proposal: Proposal, names: Names) -> list[Change]:
    """Field by field: the ticket's value now -> the proposed value (the work note: its
    text). A decided proposal shows the values it saw -> what was approved (or proposed)."""
    changes = proposal.changes
    if proposal.status == ProposalStatus.PENDING:
        now = triage_selectors.ticket_values(proposal.ticket)
        moved = set(triage_selectors.stale_fields(proposal, proposal.ticket))
    else:
        decision = getattr(proposal, "decision", None)
        if decision is not None and decision.verdict == Verdict.APPROVE:
            changes = decision.changes
        now, moved = proposal.before, set()
    diff = []
    for name in FIELDS:
        if name not in changes:
            continue
        current = "" if name == "work_note" else names.label(name, now.get(name))
        diff.append(Change(name=name, label=str(FIELD_LABELS[name]), current=current,
                           proposed=names.label(name, changes[name]), moved=name in moved))
    return diff


# --- Entries of the queue ------------------------------------------------------------------------


@dataclass
class Entry:
    proposal: Proposal
    diff: list[Change]
    source: dict | None
    bulk: bool  # may be approved in bulk: a rules proposal at or above the confidence floor
    decision_form: DecisionForm | None = None
    error: str = ""
    done: str = ""

    @property
    def ticket(self):
        return self.proposal.ticket

    @property
    def classifier(self) -> str:
        proposal = self.proposal
        if proposal.classifier == Classifier.RULES:
            return _("Rule “%(name)s”") % {"name": proposal.rule_name or _("deleted rule")}
        return _("Language model %(model)s") % {"model": proposal.model} if proposal.model else str(
            Classifier.LLM.label)

    @property
    def decision(self):
        return getattr(self.proposal, "decision", None)

    @property
    def writeback(self) -> str:
        status = self.proposal.writeback_status
        if not status:
            return ""
        labels = {**dict(WriteBackStatus.choices), "not_linked": _("not linked to ServiceNow: nothing to write"),
                  "skipped": _("skipped")}
        return str(labels.get(status, status))

    @property
    def waiting(self) -> bool:
        return self.proposal.status == ProposalStatus.PENDING


def _source(ticket, imported: dict[int, dict]) -> dict | None:
    """Where the ticket came from: the ServiceNow incident when it was imported."""
    found = imported.get(ticket.pk)
    if found is not None:
        return {"label": f"{found['system']} {found['number']}", "url": found["url"]}
    return {"label": ticket.get_source_display(), "url": ""}


def _with_entries(proposals: list[Proposal], floor: Decimal) -> list[Entry]:
    """The entries of these proposals: the names and the imported tickets' incidents read once."""
    names = Names.load()
    imported_ids = [p.ticket_id for p in proposals if p.ticket.source == TicketSource.SERVICENOW]
    imported = ticket_sources(ticket_ids=imported_ids) if imported_ids else {}
    return [Entry(proposal=p, diff=proposal_diff(p, names), source=_source(p.ticket, imported),
                  bulk=p.classifier == Classifier.RULES and p.confidence >= floor) for p in proposals]


def _entries(tab: str, floor: Decimal) -> list[Entry]:
    if tab == TAB_PERSON:
        proposals = triage_selectors.proposal_queue(status=ProposalStatus.UNCLASSIFIED)[:QUEUE_LIMIT]
    elif tab == TAB_DECIDED:
        proposals = (triage_selectors.proposal_list().filter(status__in=DECIDED_STATUSES)
                     .select_related("ticket__requester")[:DECIDED_LIMIT])
    else:
        proposals = triage_selectors.proposal_queue()[:QUEUE_LIMIT]
    return _with_entries(list(proposals), floor)


def _one_entry(proposal_id: int) -> Entry:
    proposal = triage_selectors.proposal_get(proposal_id=proposal_id)
    if proposal is None:
        raise Http404(_("There is no such proposal."))
    return _with_entries([proposal], triage_selectors.settings_get().confidence_floor)[0]


def waiting_proposal(ticket) -> Proposal | None:
    """The ticket's proposal when it waits for a decision (the ticket page's card)."""
    proposal = triage_selectors.proposal_for_ticket(ticket_id=ticket.pk)
    return proposal if proposal is not None and proposal.status == ProposalStatus.PENDING else None


# --- Forms -----------------------------------------------------------------------------------------


class DecisionForm(DeskForm):
    """Approve or reject one proposal, as the person saw it (its version)."""

    verdict = django_forms.ChoiceField(choices=Verdict.choices, widget=django_forms.HiddenInput)
    version = django_forms.IntegerField(min_value=1, widget=django_forms.HiddenInput)
    reason = django_forms.CharField(label=gettext_lazy("Why is it rejected?"), required=False, max_length=500,
                                    widget=django_forms.TextInput(attrs={"autocomplete": "off"}))


KEEP = ("", gettext_lazy("Leave as it is"))


class EditApproveForm(DeskForm):
    """What a person approves instead of the proposal: prefilled with what it proposes;
    an empty field is left as it is on the ticket."""

    version = django_forms.IntegerField(min_value=1, widget=django_forms.HiddenInput)
    category = django_forms.ChoiceField(label=gettext_lazy("Category"), required=False)
    team = django_forms.ChoiceField(label=gettext_lazy("Team"), required=False)
    impact = django_forms.ChoiceField(label=gettext_lazy("Impact"), required=False,
                                      choices=[KEEP, *((str(v), label) for v, label in Level.choices)])
    urgency = django_forms.ChoiceField(label=gettext_lazy("Urgency"), required=False,
                                       choices=[KEEP, *((str(v), label) for v, label in URGENCY_CHOICES)])
    work_note = django_forms.CharField(
        label=gettext_lazy("Work note"), required=False, max_length=2000, widget=django_forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("Added as an internal note (and a ServiceNow work note)."))

    def __init__(self, *args, names: Names, **kwargs):
        super().__init__(*args, **kwargs)
        categories = sorted(names.categories.items(), key=lambda item: item[1].lower())
        self.fields["category"].choices = [KEEP, *((str(pk), path) for pk, path in categories)]
        teams = sorted(names.teams.items(), key=lambda item: item[1].lower())
        self.fields["team"].choices = [KEEP, *((str(pk), name) for pk, name in teams)]

    @classmethod
    def initial_for(cls, proposal: Proposal) -> dict:
        changes = proposal.changes
        return {"version": proposal.version, **{name: "" if changes.get(name) is None else str(changes[name])
                                                for name in FIELDS}}

    def clean(self):
        data = super().clean()
        if not any(data.get(name) for name in FIELDS):
            raise django_forms.ValidationError(_("Choose at least one change to approve, or reject the proposal."))
        return data

    def changes(self) -> dict:
        data = self.cleaned_data
        return {name: data[name] for name in FIELDS if data.get(name)}


# --- Views -----------------------------------------------------------------------------------------


def _tab(request: HttpRequest) -> str:
    wanted = request.GET.get("show", TAB_WAITING)
    return wanted if wanted in dict(TABS) else TAB_WAITING


def _queue_url(tab: str = TAB_WAITING, anchor: str = "") -> str:
    url = reverse("desk:triage")
    if tab != TAB_WAITING:
        url += f"?show={tab}"
    return url + (f"#{anchor}" if anchor else "")


def _render_queue(request: HttpRequest, *, tab: str, status: int = 200, failed: Entry | None = None,
                  page_error: str = "") -> HttpResponse:
    settings = triage_selectors.settings_get()
    entries = _entries(tab, settings.confidence_floor)
    if failed is not None:  # the refused entry keeps its form and message in place
        entries = [failed if e.proposal.pk == failed.proposal.pk else e for e in entries]
    response = render(request, "desk/triage/queue.html", {
        "tab": tab,
        "tabs": [(key, label, _queue_url(key)) for key, label in TABS],
        "entries": entries,
        "limit": DECIDED_LIMIT if tab == TAB_DECIDED else QUEUE_LIMIT,
        "settings": settings,
        "bulk_possible": tab == TAB_WAITING and any(e.bulk for e in entries),
        "page_error": page_error,
    }, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@agent_required
@require_GET
def triage_view(request: HttpRequest) -> HttpResponse:
    return _render_queue(request, tab=_tab(request))


def _entry_target(request: HttpRequest, proposal_id: int) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == f"proposal-{proposal_id}"


def _ticket_label(proposal: Proposal) -> str:
    return _("ticket #%(number)s") % {"number": proposal.ticket.number}


@agent_required
@require_POST
def triage_decide_view(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """Approve or reject one proposal (the Approve and Reject buttons of an entry)."""
    entry = _one_entry(proposal_id)
    form = DecisionForm(request.POST)
    in_place = _entry_target(request, proposal_id)
    error, status = "", 200
    if form.is_valid():
        data = form.cleaned_data
        try:
            triage_services.proposal_decide(actor=request.user, proposal_id=proposal_id, verdict=data["verdict"],
                                            version=data["version"], reason=data["reason"], channel="web")
        except ApplicationError as exc:
            persist_denial(exc)
            apply_errors(form, exc.errors, exc.message)
            error, status = exc.message, exc.status if exc.status < 500 else 400
    else:
        error, status = _("The decision could not be read; look again."), 400
    if not error:
        approved = form.cleaned_data["verdict"] == Verdict.APPROVE
        done = (_("Approved and applied to %(ticket)s.") if approved else _("Rejected the proposal for %(ticket)s.")) % {
            "ticket": _ticket_label(entry.proposal)}
        if in_place:
            entry = _one_entry(proposal_id)
            entry.done = done
            return render(request, "desk/triage/_entry.html", {"entry": entry, "tab": TAB_WAITING})
        messages.success(request, done)
        return redirect(_queue_url())
    entry = _one_entry(proposal_id)  # as it is now (a stale refusal may have superseded it)
    entry.decision_form, entry.error = form, error
    if in_place:  # htmx swaps 422: the message shows in the entry
        return render(request, "desk/triage/_entry.html", {"entry": entry, "tab": TAB_WAITING}, status=422)
    page_error = _("%(ticket)s: %(message)s") % {"ticket": _ticket_label(entry.proposal).capitalize(), "message": error}
    return _render_queue(request, tab=TAB_WAITING, status=status, failed=entry, page_error=page_error)


@agent_required
@require_http_methods(["GET", "POST"])
def triage_edit_view(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """Edit what a proposal would change, then approve it (one decision with `changes`)."""
    entry = _one_entry(proposal_id)
    names = Names.load()
    status = 200
    if request.method == "POST":
        form = EditApproveForm(request.POST, names=names)
        if form.is_valid():
            try:
                triage_services.proposal_decide(
                    actor=request.user, proposal_id=proposal_id, verdict=Verdict.APPROVE,
                    version=form.cleaned_data["version"], changes=form.changes(), channel="web")
            except ApplicationError as exc:
                persist_denial(exc)
                apply_errors(form, exc.errors, exc.message)
                status = exc.status if exc.status < 500 else 400
                entry = _one_entry(proposal_id)
            else:
                messages.success(request, _("Approved your edited routing for %(ticket)s.") % {
                    "ticket": _ticket_label(entry.proposal)})
                return redirect(_queue_url())
        else:
            status = 400
    else:
        form = EditApproveForm(initial=EditApproveForm.initial_for(entry.proposal), names=names)
    return render(request, "desk/triage/edit.html", {"entry": entry, "form": form}, status=status)


class BulkApproveForm(DeskForm):
    proposal = django_forms.TypedMultipleChoiceField(coerce=int, choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ids = self.data.getlist("proposal") if hasattr(self.data, "getlist") else []
        self.fields["proposal"].choices = [(value, value) for value in ids if str(value).isdigit()]
        self.fields["proposal"].error_messages["required"] = _("Select the proposals to approve.")


@agent_required
@require_POST
def triage_bulk_view(request: HttpRequest) -> HttpResponse:
    """Approve the selected proposals; the service refuses any that is not a rules
    proposal at or above the confidence floor, one by one."""
    form = BulkApproveForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(m) for ms in form.errors.values() for m in ms))
        return redirect(_queue_url())
    outcome = triage_services.proposal_approve_many(actor=request.user, proposal_ids=form.cleaned_data["proposal"])
    numbers = dict(Proposal.objects.filter(pk__in=[*outcome.approved, *outcome.refused])
                   .values_list("pk", "ticket__number"))
    if outcome.approved:
        messages.success(request, _("Approved %(count)s proposals: %(tickets)s.") % {
            "count": len(outcome.approved), "tickets": ", ".join(f"#{numbers.get(pk, '?')}" for pk in outcome.approved)})
    for pk, why in outcome.refused.items():
        messages.error(request, _("Not approved: ticket #%(number)s: %(why)s") % {"number": numbers.get(pk, "?"),
                                                                                  "why": why})
    return redirect(_queue_url())
