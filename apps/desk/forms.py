"""Forms of the agent desk: they shape and label the input; the services decide.

Each form only parses what a control sent (ids, choices, text) into the keyword
arguments of a tickets service. Rules (who may move what where, whether a reason is
needed) stay in the services and `workflow.py`; their errors come back through
`apply_errors()` and are shown next to the control they concern.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.sla.choices import Badge
from apps.tickets.choices import Level, Priority, ResolutionCode, TicketStatus, Visibility
from apps.tickets.filters import Q_MAX_CHARS

from .lookups import user_by_email
from .rendering import RENDERER

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 25
BULK_MAX = 100
ME, NONE = "me", "none"


class DeskForm(forms.Form):
    """Base of the desk's forms: the fast renderer for their controls."""

    default_renderer = RENDERER


def _user_label(user) -> str:
    return user.full_name or user.email


def apply_errors(form: forms.Form, errors: Mapping[str, Iterable[str]], message: str, *, aliases=None) -> None:
    """Attach a service's `errors` to the form's fields (unknown fields: a form error)."""
    aliases = aliases or {}
    placed = False
    for name, messages in (errors or {}).items():
        field = aliases.get(name, name)
        for text in messages:
            if field in form.fields:
                form.add_error(field, str(text))
                placed = True
    if not placed:
        form.add_error(None, message)


# The queue's SLA filter: a ticket's badge (its most urgent clock), as the SLA column shows it.
SLA_FILTER_CHOICES = [
    (Badge.AT_RISK.value, Badge.AT_RISK.label),
    (Badge.BREACHED.value, Badge.BREACHED.label),
    (Badge.PAUSED.value, Badge.PAUSED.label),
    (Badge.ON_TRACK.value, Badge.ON_TRACK.label),
]


class QueueFilterForm(DeskForm):
    """The queue's filters: the parameters of `TicketFilterSet`, labelled for people."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=Q_MAX_CHARS,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Words, \"a phrase\", -not"),
                                      "autocomplete": "off", "data-shortcut-focus": "/"}),
    )
    status = forms.MultipleChoiceField(
        label=_("Status"), required=False, choices=TicketStatus.choices, widget=forms.CheckboxSelectMultiple
    )
    priority = forms.MultipleChoiceField(
        label=_("Priority"), required=False, choices=Priority.choices, widget=forms.CheckboxSelectMultiple
    )
    team = forms.ChoiceField(label=_("Team"), required=False)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    tag = forms.ChoiceField(label=_("Tag"), required=False)
    # The requester by email (a select of every user of the tenant would be thousands of
    # options); the selector filters on the user's id, looked up in clean_requester().
    requester = forms.EmailField(
        label=_("Requester's email"), required=False, max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    # Days, with the API's meaning (`created_after` >= , `created_before` <): "from"
    # includes its day, "before" does not. Days start at midnight in the current time zone.
    created_after = forms.DateField(
        label=_("Created from"), required=False, input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    created_before = forms.DateField(
        label=_("Created before"), required=False, input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    sla = forms.MultipleChoiceField(
        label=_("SLA"), required=False, choices=SLA_FILTER_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    per_page = forms.TypedChoiceField(
        label=_("Rows per page"),
        required=False,
        coerce=int,
        empty_value=DEFAULT_PAGE_SIZE,
        choices=[(n, str(n)) for n in PAGE_SIZES],
    )

    # Every filter of `TicketFilterSet` but `ordering` (the queue sorts with `queue.py`).
    FILTER_KEYS = ("q", "status", "priority", "team", "assignee", "requester", "category", "tag", "created_after",
                   "created_before")

    def __init__(self, *args, teams=(), agents=(), categories=(), tags=(), **kwargs):
        super().__init__(*args, **kwargs)
        any_choice = ("", _("Any"))
        self.fields["team"].choices = [any_choice] + [(str(t.pk), t.name) for t in teams]
        self.fields["assignee"].choices = [any_choice, (ME, _("Me")), (NONE, _("Unassigned"))] + [
            (str(u.pk), _user_label(u)) for u in agents
        ]
        self.fields["category"].choices = [any_choice] + [(str(c.pk), c.name) for c in categories]
        self.fields["tag"].choices = [any_choice] + [(t.name, t.name) for t in tags]
        self.requester_id: int | None = None
        self.requester_unknown = False

    def clean_requester(self) -> str:
        email = self.cleaned_data.get("requester") or ""
        if email:
            user = user_by_email(email)
            if user is None:
                self.requester_unknown = True
                raise forms.ValidationError(_("Nobody in this organisation has this email address."))
            self.requester_id = user.pk
        return email

    def matches_nothing(self) -> bool:
        """True when the filters ask for the tickets of someone who does not exist: the
        list is then empty (other invalid values are shown as errors and left out)."""
        return self.requester_unknown

    def clean(self):
        data = super().clean()
        after, before = data.get("created_after"), data.get("created_before")
        if after and before and after >= before:
            self.add_error("created_before", _("Choose a day after the “Created from” day."))
        return data

    @staticmethod
    def _day_start(day: date) -> str:
        """Midnight at the start of `day` in the current time zone, as the ISO 8601 text
        `TicketFilterSet`'s date-time filters parse."""
        return timezone.make_aware(datetime.combine(day, time.min)).isoformat()

    def _valid_data(self) -> dict:
        return self.cleaned_data if self.is_valid() else {
            k: v for k, v in getattr(self, "cleaned_data", {}).items() if k not in self.errors
        }

    def selector_filters(self) -> dict[str, object]:
        """The cleaned filters in the selector's query-string shape (empty ones left out)."""
        data = self._valid_data()
        out: dict[str, object] = {}
        for key in self.FILTER_KEYS:
            value = data.get(key)
            if value in (None, "", [], ()):
                continue
            if key == "requester":
                value = self.requester_id
            elif key in ("created_after", "created_before"):
                value = self._day_start(value)
            out[key] = list(value) if isinstance(value, list) else str(value)
        return out

    def query_values(self) -> dict[str, object]:
        """The valid filters as the queue's own query string holds them (the requester's
        email, days as YYYY-MM-DD): for links between the board and the queue."""
        data = self._valid_data()
        out: dict[str, object] = {}
        for key in self.FILTER_KEYS:
            value = data.get(key)
            if value in (None, "", [], ()):
                continue
            out[key] = [str(v) for v in value] if isinstance(value, list) else (
                value.isoformat() if isinstance(value, date) else str(value))
        return out

    def sla_states(self) -> list[str]:
        """The SLA states asked for (empty: no SLA filter). Not a `TicketFilterSet` filter:
        the view narrows the selector's queryset with `apps.sla.selectors`."""
        if "sla" in self.errors:
            return []
        return list(getattr(self, "cleaned_data", {}).get("sla") or [])

    def page_size(self) -> int:
        if self.is_valid():
            return self.cleaned_data.get("per_page") or DEFAULT_PAGE_SIZE
        return DEFAULT_PAGE_SIZE


class NumberListField(forms.Field):
    """Ticket numbers from repeated checkboxes (`ticket=12&ticket=15`)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": _("Select at least one ticket."),
        "invalid": _("%(value)s is not a ticket number."),
    }

    def to_python(self, value):
        numbers = []
        for item in value or ():
            text = str(item).strip()
            if not text.isdigit() or not 0 < int(text) < 2**31:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid", params={"value": text[:20]})
            numbers.append(int(text))
        return numbers


class BulkForm(DeskForm):
    """One action on the selected tickets; each ticket is then checked on its own."""

    ACTION_ASSIGN = "assign"
    ACTION_STATUS = "status"

    ticket = NumberListField(label=_("Tickets"))
    action = forms.ChoiceField(
        label=_("Action"), choices=[(ACTION_ASSIGN, _("Assign")), (ACTION_STATUS, _("Change status"))]
    )
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)
    to = forms.ChoiceField(label=_("New status"), required=False, choices=[("", "—")] + list(TicketStatus.choices))
    reason = forms.CharField(label=_("Reason"), required=False, max_length=2000)
    resolution_code = forms.ChoiceField(
        label=_("Resolution"), required=False, choices=[("", "—")] + list(ResolutionCode.choices)
    )
    resolution_note = forms.CharField(label=_("Resolution note"), required=False, max_length=2000)

    def __init__(self, *args, agents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", "—"), (ME, _("Me")), (NONE, _("Unassigned"))] + [
            (str(u.pk), _user_label(u)) for u in agents
        ]

    def clean_ticket(self):
        numbers = list(dict.fromkeys(self.cleaned_data["ticket"]))
        if len(numbers) > BULK_MAX:
            raise forms.ValidationError(_("Select at most %(max)s tickets at a time.") % {"max": BULK_MAX})
        return numbers

    def clean(self):
        data = super().clean()
        if data.get("action") == self.ACTION_ASSIGN and not data.get("assignee"):
            self.add_error("assignee", _("Choose who gets the tickets."))
        if data.get("action") == self.ACTION_STATUS and not data.get("to"):
            self.add_error("to", _("Choose the new status."))
        return data

    def assignee_value(self, me):
        value = self.cleaned_data["assignee"]
        if value == ME:
            return me
        if value == NONE:
            return None
        return int(value)


class CommentForm(DeskForm):
    body = forms.CharField(label=_("Comment (Markdown)"), widget=forms.Textarea(attrs={"rows": 6}), required=False)
    visibility = forms.ChoiceField(
        label=_("Visibility"),
        choices=[(Visibility.PUBLIC, _("Public reply (the requester sees it)")),
                 (Visibility.INTERNAL, _("Internal note (agents only)"))],
        initial=Visibility.PUBLIC,
        widget=forms.RadioSelect,
    )

    @property
    def internal(self) -> bool:
        return self.cleaned_data.get("visibility") == Visibility.INTERNAL


class TransitionForm(DeskForm):
    to = forms.ChoiceField(label=_("New status"))
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Needed to cancel or reopen a ticket."),
    )
    resolution_code = forms.ChoiceField(
        label=_("Resolution"), required=False, choices=[("", "—")] + list(ResolutionCode.choices),
        help_text=_("Needed to resolve a ticket."),
    )
    resolution_note = forms.CharField(
        label=_("Resolution note"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Needed to resolve a ticket; the requester sees it."),
    )

    def __init__(self, *args, targets=(), **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(TicketStatus.choices)
        self.fields["to"].choices = [("", "—")] + [(t, labels[t]) for t in targets]

    def service_kwargs(self) -> dict[str, str]:
        data = self.cleaned_data
        return {
            "to": data["to"],
            "reason": data.get("reason") or "",
            "resolution_code": data.get("resolution_code") or "",
            "resolution_note": data.get("resolution_note") or "",
        }


class AssignForm(DeskForm):
    team = forms.ChoiceField(label=_("Team"), required=False)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)

    def __init__(self, *args, teams=(), agents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", _("No team"))] + [(str(t.pk), t.name) for t in teams]
        self.fields["assignee"].choices = [("", _("Unassigned"))] + [(str(u.pk), _user_label(u)) for u in agents]

    def service_kwargs(self) -> dict[str, int | None]:
        data = self.cleaned_data
        return {
            "team": int(data["team"]) if data.get("team") else None,
            "assignee": int(data["assignee"]) if data.get("assignee") else None,
        }


class AttachmentForm(DeskForm):
    file = forms.FileField(label=_("File"))
    visibility = forms.ChoiceField(
        label=_("Visibility"),
        choices=[(Visibility.PUBLIC, _("Public (the requester sees it)")),
                 (Visibility.INTERNAL, _("Internal (agents only)"))],
        initial=Visibility.INTERNAL,
    )


class MoveForm(DeskForm):
    """A Kanban move: the card's ticket and the column it goes to (plus what it needs)."""

    number = forms.IntegerField(min_value=1, max_value=2**31 - 1)
    to = forms.ChoiceField(label=_("Move to"), choices=TicketStatus.choices)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=2000)
    resolution_code = forms.ChoiceField(
        label=_("Resolution"), required=False, choices=[("", "—")] + list(ResolutionCode.choices)
    )
    resolution_note = forms.CharField(label=_("Resolution note"), required=False, max_length=2000)


class PreviewForm(DeskForm):
    body = forms.CharField(required=False)


class SavedViewForm(DeskForm):
    name = forms.CharField(label=_("Name of the view"), max_length=100)
    scope = forms.ChoiceField(label=_("Share with"))

    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = [("personal", _("Only me"))] + [
            (f"team:{t.pk}", _("Team %(name)s") % {"name": t.name}) for t in teams
        ]


# --- A ticket opened by an agent for someone ---------------------------------------------

LEVEL_CHOICES = Level.choices  # 1 High, 2 Medium, 3 Low


def _category_choices(categories) -> list[tuple[str, str]]:
    """Categories depth-first, each labelled with its path ("Hardware › Printers")."""
    by_id = {c.pk: c for c in categories}
    children: dict[int | None, list] = {}
    for category in categories:
        children.setdefault(category.parent_id if category.parent_id in by_id else None, []).append(category)
    choices: list[tuple[str, str]] = []
    stack = [(c, [c.name]) for c in sorted(children.get(None, []), key=lambda c: c.name.lower(), reverse=True)]
    while stack:
        category, path = stack.pop()
        choices.append((str(category.pk), " › ".join(path)))
        for child in sorted(children.get(category.pk, []), key=lambda c: c.name.lower(), reverse=True):
            stack.append((child, [*path, child.name]))
    return choices


# The fields of a create form that decide its SLA (and so its due-time preview).
SLA_FIELDS = ("impact", "urgency", "category", "team")


def sla_inputs(data) -> dict:
    """`apps.sla.preview.due_preview`'s arguments from cleaned (or initial) form data."""
    return {
        "impact": int(data.get("impact") or Level.MEDIUM),
        "urgency": int(data.get("urgency") or Level.MEDIUM),
        "category_id": int(data["category"]) if data.get("category") else None,
        "team_id": int(data["team"]) if data.get("team") else None,
    }


class TicketCreateForm(DeskForm):
    """A new ticket on behalf of a requester (phone call, walk-in, forwarded email)."""

    requester = forms.EmailField(
        label=_("Requester's email"), max_length=254,
        help_text=_("An active user of this organisation; they can follow the ticket in the portal."),
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(label=_("Description (Markdown)"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 6}))
    category = forms.ChoiceField(label=_("Category"), required=False)
    impact = forms.TypedChoiceField(label=_("Impact"), choices=LEVEL_CHOICES, coerce=int, initial=Level.MEDIUM)
    urgency = forms.TypedChoiceField(label=_("Urgency"), choices=LEVEL_CHOICES, coerce=int, initial=Level.MEDIUM)
    team = forms.ChoiceField(label=_("Team"), required=False)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)

    def __init__(self, *args, teams=(), agents=(), categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", _("No category"))] + _category_choices(categories)
        self.fields["team"].choices = [("", _("No team"))] + [(str(t.pk), t.name) for t in teams]
        self.fields["assignee"].choices = [("", _("Unassigned"))] + [(str(u.pk), _user_label(u)) for u in agents]

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "description": data.get("description") or "",
            "category": int(data["category"]) if data.get("category") else None,
            "impact": data["impact"],
            "urgency": data["urgency"],
            "team": int(data["team"]) if data.get("team") else None,
            "assignee": int(data["assignee"]) if data.get("assignee") else None,
        }


class SlaPreviewForm(DeskForm):
    """The query of the due-time preview (the create form's impact, urgency, category, team)."""

    impact = forms.TypedChoiceField(choices=LEVEL_CHOICES, coerce=int, required=False, empty_value=Level.MEDIUM)
    urgency = forms.TypedChoiceField(choices=LEVEL_CHOICES, coerce=int, required=False, empty_value=Level.MEDIUM)
    category = forms.ChoiceField(required=False)
    team = forms.ChoiceField(required=False)

    def __init__(self, *args, teams=(), categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "")] + [(str(c.pk), c.name) for c in categories]
        self.fields["team"].choices = [("", "")] + [(str(t.pk), t.name) for t in teams]
