"""Forms of the agent desk: they shape and label the input; the services decide.

Each form only parses what a control sent (ids, choices, text) into the keyword
arguments of a tickets service. Rules (who may move what where, whether a reason is
needed) stay in the services and `workflow.py`; their errors come back through
`apply_errors()` and are shown next to the control they concern.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.sla.choices import Badge
from apps.tickets.choices import URGENCY_CHOICES, Level, Priority, ResolutionCode, TicketStatus, Visibility
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
    """One action on the selected tickets; each ticket is then checked on its own.

    A "—" choice leaves that field as each ticket has it (a team without an assignee,
    impact without urgency). The services decide for every ticket.
    """

    ACTION_ASSIGN = "assign"
    ACTION_STATUS = "status"
    ACTION_CATEGORY = "category"
    ACTION_PRIORITY = "priority"
    ACTION_TAGS = "tags"

    ticket = NumberListField(label=_("Tickets"))
    action = forms.ChoiceField(
        label=_("Action"),
        choices=[(ACTION_ASSIGN, _("Assign")), (ACTION_STATUS, _("Change status")),
                 (ACTION_CATEGORY, _("Change category")), (ACTION_PRIORITY, _("Change impact and urgency")),
                 (ACTION_TAGS, _("Add tags"))],
    )
    team = forms.ChoiceField(label=_("Team"), required=False)
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)
    to = forms.ChoiceField(label=_("New status"), required=False, choices=[("", "—")] + list(TicketStatus.choices))
    reason = forms.CharField(label=_("Reason"), required=False, max_length=2000)
    resolution_code = forms.ChoiceField(
        label=_("Resolution"), required=False, choices=[("", "—")] + list(ResolutionCode.choices)
    )
    resolution_note = forms.CharField(label=_("Resolution note"), required=False, max_length=2000)
    category = forms.ChoiceField(label=_("Category"), required=False)
    impact = forms.ChoiceField(label=_("Impact"), required=False)
    urgency = forms.ChoiceField(label=_("Urgency"), required=False)
    tags = forms.CharField(label=_("Tags to add"), required=False, max_length=1000,
                           help_text=_("Separated by commas."),
                           widget=forms.TextInput(attrs={"autocomplete": "off"}))

    def __init__(self, *args, agents=(), teams=(), categories=(), **kwargs):
        kwargs.setdefault("auto_id", "bulk-%s")  # the queue's filters have a team, category, ... of their own
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", "—"), (ME, _("Me")), (NONE, _("Unassigned"))] + [
            (str(u.pk), _user_label(u)) for u in agents
        ]
        self.fields["team"].choices = [("", "—"), (NONE, _("No team"))] + [(str(t.pk), t.name) for t in teams]
        self.fields["category"].choices = [("", "—"), (NONE, _("No category"))] + _category_choices(categories)
        self.fields["impact"].choices = [("", "—")] + [(str(value), label) for value, label in Level.choices]
        self.fields["urgency"].choices = [("", "—")] + [(str(value), label) for value, label in URGENCY_CHOICES]

    def clean_ticket(self):
        numbers = list(dict.fromkeys(self.cleaned_data["ticket"]))
        if len(numbers) > BULK_MAX:
            raise forms.ValidationError(_("Select at most %(max)s tickets at a time.") % {"max": BULK_MAX})
        return numbers

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == self.ACTION_ASSIGN and not data.get("assignee") and not data.get("team"):
            self.add_error("assignee", _("Choose who gets the tickets, or their team."))
        if action == self.ACTION_STATUS and not data.get("to"):
            self.add_error("to", _("Choose the new status."))
        if action == self.ACTION_CATEGORY and not data.get("category"):
            self.add_error("category", _("Choose the category (or “No category”)."))
        if action == self.ACTION_PRIORITY and not data.get("impact") and not data.get("urgency"):
            self.add_error("impact", _("Choose the impact, the urgency or both."))
        if action == self.ACTION_TAGS and not parse_tags(data.get("tags") or ""):
            self.add_error("tags", _("Type the tags to add, separated by commas."))
        return data

    def assignee_value(self, me):
        value = self.cleaned_data["assignee"]
        if value == ME:
            return me
        if value == NONE:
            return None
        return int(value)

    def assign_kwargs(self, me) -> dict:
        """`ticket_assign`'s arguments: only what was chosen (a team alone keeps each
        ticket's assignee if they are in it, as the service does)."""
        kwargs: dict = {}
        if self.cleaned_data.get("assignee"):
            kwargs["assignee"] = self.assignee_value(me)
        team = self.cleaned_data.get("team")
        if team:
            kwargs["team"] = None if team == NONE else int(team)
        return kwargs

    def update_kwargs(self) -> dict:
        """`ticket_update`'s arguments for the category and impact/urgency actions."""
        data = self.cleaned_data
        if data["action"] == self.ACTION_CATEGORY:
            return {"category": None if data["category"] == NONE else int(data["category"])}
        return {name: int(data[name]) for name in ("impact", "urgency") if data.get(name)}

    def tag_names(self) -> list[str]:
        return parse_tags(self.cleaned_data.get("tags") or "")


class CommentForm(DeskForm):
    body = forms.CharField(
        label=_("Comment (Markdown)"),
        help_text=_("Type @ and a name to mention a colleague: they are told."),
        widget=forms.Textarea(attrs={"rows": 6, "data-mentions-label": _("People to mention")}),
        required=False,
    )
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
    urgency = forms.TypedChoiceField(label=_("Urgency"), choices=URGENCY_CHOICES, coerce=int, initial=Level.MEDIUM)
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
    urgency = forms.TypedChoiceField(choices=URGENCY_CHOICES, coerce=int, required=False, empty_value=Level.MEDIUM)
    category = forms.ChoiceField(required=False)
    team = forms.ChoiceField(required=False)

    def __init__(self, *args, teams=(), categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "")] + [(str(c.pk), c.name) for c in categories]
        self.fields["team"].choices = [("", "")] + [(str(t.pk), t.name) for t in teams]


# --- Editing a ticket in place (title, category, impact/urgency, tags, team/assignee) --------


def parse_tags(text: str) -> list[str]:
    """Tag names typed as "printer, vip" (commas or new lines), in the order given."""
    return [part.strip() for part in re.split(r"[,\n]", text or "") if part.strip()]


def tags_text(names) -> str:
    return ", ".join(names)


class EditForm(DeskForm):
    """One field (or pair of fields) of the ticket page, edited in place.

    `values(ticket)` is what the ticket holds, as the form posts it (text). The form
    carries those values back as hidden `seen_<name>` inputs, so that a change somebody
    else saved after the editor was opened is noticed (`edits.edit_save`) instead of
    being overwritten. A post without them (the assignment suggestion's one-click form)
    is not checked.
    """

    key = ""
    service = "update"  # the tickets service that saves it: ticket_update or ticket_assign ("assign")
    watched: tuple[str, ...] = ()
    # Sent together whenever one of them changed (team and assignee are checked together).
    together = False

    edit = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, data=None, *, ticket, options=None, **kwargs):
        self.ticket = ticket
        self._options = options or {}
        current = self.values(ticket)
        initial = {"edit": self.key, **current, **{f"seen_{name}": current[name] for name in self.watched}}
        # Ids of their own (edit-<key>-<field>): several editors can be open on one page.
        kwargs.setdefault("auto_id", f"edit-{self.key}-%s")
        super().__init__(data, initial=initial, **kwargs)
        for name in self.watched:
            self.fields[f"seen_{name}"] = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)
        self.setup(**self._options)

    def setup(self, **options) -> None:
        """Choices that depend on the tenant (categories, teams, agents)."""

    @classmethod
    def values(cls, ticket) -> dict[str, str]:
        """The ticket's current values of this editor's fields, as the form posts them."""
        raise ImproperlyConfigured(f"{cls.__name__} must define values(ticket): the fields it edits, as posted")

    @staticmethod
    def normal(name: str, value: str) -> str:
        """`value` as compared with another (tags ignore case and order)."""
        return value or ""

    def posted(self) -> dict[str, str]:
        return {name: str(self.cleaned_data.get(name) or "") for name in self.watched}

    def seen(self) -> dict[str, str] | None:
        if not all(f"seen_{name}" in self.data for name in self.watched):
            return None
        return {name: self.cleaned_data.get(f"seen_{name}") or "" for name in self.watched}

    def changed(self, current: dict[str, str]) -> list[str]:
        """The watched fields the agent changed (from what they saw, else from `current`),
        all of them when they go `together`; empty when the ticket already holds the
        posted values."""
        posted, base = self.posted(), self.seen() or current
        edited = [n for n in self.watched if self.normal(n, posted[n]) != self.normal(n, base[n])]
        if edited and self.together:
            edited = list(self.watched)
        if all(self.normal(n, posted[n]) == self.normal(n, current[n]) for n in edited):
            return []  # nothing to do (or somebody else already made the same change)
        return edited

    def moved_meanwhile(self, current: dict[str, str], sending: list[str]) -> list[str]:
        """Of the fields about to be sent, those somebody else changed since the agent saw
        them (to something else than what the agent wants)."""
        seen = self.seen()
        if seen is None:
            return []
        posted = self.posted()
        return [n for n in sending if self.normal(n, seen[n]) != self.normal(n, current[n])
                and self.normal(n, posted[n]) != self.normal(n, current[n])]

    def display(self, name: str, value: str) -> str:
        """A value as the page shows it (in a conflict message)."""
        field = self.fields[name]
        if isinstance(field, forms.ChoiceField):
            return str(dict((str(k), v) for k, v in field.choices).get(str(value), value))
        return value

    def service_kwargs(self, names: list[str]) -> dict:
        """The keyword arguments of the tickets service for the changed fields `names`."""
        raise ImproperlyConfigured(f"{type(self).__name__} must define service_kwargs(names): what its service is sent")

    def with_seen(self, current: dict[str, str]) -> EditForm:
        """The same post, now having seen `current` (saving it again replaces that)."""
        data = self.data.copy()
        for name in self.watched:
            data[f"seen_{name}"] = current[name]
        form = type(self)(data, ticket=self.ticket, options=self._options)
        form.is_valid()
        return form


class TitleEditForm(EditForm):
    key = "title"
    watched = ("title",)
    # Not stripped: the service checks control characters and length itself (its messages).
    title = forms.CharField(label=_("Title"), required=False, strip=False,
                            widget=forms.TextInput(attrs={"autocomplete": "off", "maxlength": 200}))

    @classmethod
    def values(cls, ticket) -> dict[str, str]:
        return {"title": ticket.title}

    def service_kwargs(self, names: list[str]) -> dict:
        return {"title": self.cleaned_data.get("title") or ""}


class CategoryEditForm(EditForm):
    key = "category"
    watched = ("category",)
    category = forms.ChoiceField(label=_("Category"), required=False)

    def setup(self, *, categories=(), **options) -> None:
        choices = _category_choices(categories)
        current = self.ticket.category
        if current is not None and str(current.pk) not in dict(choices):
            # An archived category stays the ticket's until someone picks another one.
            choices.append((str(current.pk), _("%(name)s (archived)") % {"name": current.name}))
        self.fields["category"].choices = [("", _("No category")), *choices]

    @classmethod
    def values(cls, ticket) -> dict[str, str]:
        return {"category": str(ticket.category_id or "")}

    def service_kwargs(self, names: list[str]) -> dict:
        value = self.cleaned_data.get("category")
        return {"category": int(value) if value else None}


class PriorityEditForm(EditForm):
    """Impact and urgency; the tickets service computes the priority from them."""

    key = "priority"
    watched = ("impact", "urgency")
    impact = forms.ChoiceField(label=_("Impact"), choices=[(str(v), label) for v, label in LEVEL_CHOICES])
    urgency = forms.ChoiceField(label=_("Urgency"), choices=[(str(v), label) for v, label in URGENCY_CHOICES])

    @classmethod
    def values(cls, ticket) -> dict[str, str]:
        return {"impact": str(ticket.impact), "urgency": str(ticket.urgency)}

    def service_kwargs(self, names: list[str]) -> dict:
        return {name: int(self.cleaned_data[name]) for name in names}


class TagsEditForm(EditForm):
    key = "tags"
    watched = ("tags",)
    tags = forms.CharField(
        label=_("Tags"), required=False, strip=False,
        help_text=_("Separate tags with commas. Only existing tags can be used; an admin creates them."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    @classmethod
    def values(cls, ticket) -> dict[str, str]:
        names = getattr(ticket, "tag_names", None)
        if names is None:
            names = sorted((t.name for t in ticket.tags.all()), key=str.lower)
        return {"tags": tags_text(names)}

    @staticmethod
    def normal(name: str, value: str) -> str:
        return ",".join(sorted({t.lower() for t in parse_tags(value)}))

    def display(self, name: str, value: str) -> str:
        return value or str(_("no tags"))

    def service_kwargs(self, names: list[str]) -> dict:
        return {"tags": parse_tags(self.cleaned_data.get("tags") or "")}


class AssignmentEditForm(EditForm):
    """Team and assignee, saved together by `ticket_assign` (an assignee outside the
    chosen team is refused there, next to the assignee)."""

    key = "assignment"
    service = "assign"
    watched = ("team", "assignee")
    together = True
    team = forms.ChoiceField(label=_("Team"), required=False)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)

    def setup(self, *, teams=(), agents=(), **options) -> None:
        self.fields["team"].choices = [("", _("No team"))] + [(str(t.pk), t.name) for t in teams]
        assignees = [("", _("Unassigned"))] + [(str(u.pk), _user_label(u)) for u in agents]
        current = self.ticket.assignee
        if current is not None and str(current.pk) not in dict(assignees):
            assignees.append((str(current.pk), _user_label(current)))  # e.g. no longer active: still shown
        self.fields["assignee"].choices = assignees

    @classmethod
    def values(cls, ticket) -> dict[str, str]:
        return {"team": str(ticket.team_id or ""), "assignee": str(ticket.assignee_id or "")}

    def service_kwargs(self, names: list[str] | None = None) -> dict:
        data = self.cleaned_data
        return {
            "team": int(data["team"]) if data.get("team") else None,
            "assignee": int(data["assignee"]) if data.get("assignee") else None,
        }


EDIT_FORMS: dict[str, type[EditForm]] = {
    form.key: form for form in (TitleEditForm, CategoryEditForm, PriorityEditForm, TagsEditForm, AssignmentEditForm)
}
