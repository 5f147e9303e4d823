"""One FilterSet for tickets, used by the API and (later) the HTML lists.

Parameters: status (repeatable), priority (repeatable), team, assignee (an id, "me" or
"none"), requester, category (includes its descendants), tag (name), q (search,
web-search syntax: `printer -laser "out of paper" or toner`, or a ticket number `#7`;
apps/tickets/search.py), created_after, created_before and ordering (a whitelist:
`keyset.ORDERINGS`, plus `relevance` for a search, its default; status sorts in workflow
order). A list reads its pages with the keyset paginator in that ordering.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field

from apps.accounts import permissions

from . import search
from .choices import Priority, TicketStatus
from .keyset import ORDERINGS, RELEVANCE, ticket_ordering
from .models import Ticket
from .text import CONTROL_CHARS
from .tree import category_descendant_ids

Q_MAX_CHARS = 200
MAX_ID = 2**63 - 1


def _no_control_chars(value: str) -> None:
    if value and CONTROL_CHARS.search(value):
        raise forms.ValidationError("Control characters are not allowed.")


class AssigneeField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        if value in (None, ""):
            return None
        value = value.strip().lower()
        if value in ("me", "none"):
            return value
        if value.isdigit() and 0 < int(value) <= MAX_ID:
            return int(value)
        raise forms.ValidationError('Use a user id, "me" or "none".')


@extend_schema_field({"type": "string", "pattern": r"^(me|none|[1-9][0-9]{0,18})$"})
class AssigneeFilter(django_filters.Filter):
    field_class = AssigneeField


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": 2**63 - 1})
class IdFilter(django_filters.NumberFilter):
    """A database id: a whole number that fits the column (never a 500 on 1e400)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class TicketFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=TicketStatus.choices, distinct=False, help_text="Repeat for several."
    )
    priority = django_filters.MultipleChoiceFilter(
        choices=Priority.choices, distinct=False, help_text="Repeat for several."
    )
    team = IdFilter(field_name="team_id", help_text="Team id.")
    assignee = AssigneeFilter(method="filter_assignee", help_text='A user id, "me" or "none" (unassigned).')
    requester = IdFilter(field_name="requester_id", help_text="User id of the requester.")
    category = IdFilter(
        method="filter_category", help_text="Category id; tickets in its sub-categories match too."
    )
    tag = django_filters.CharFilter(
        method="filter_tag", max_length=50, validators=[_no_control_chars], help_text="Tag name."
    )
    q = django_filters.CharFilter(
        method="filter_q",
        max_length=Q_MAX_CHARS,
        validators=[_no_control_chars],
        help_text=('Search title, description, resolution note and comments (agents: internal notes too), '
                   'in other word forms (printers finds printer; Polish forms and accents too), the last word as '
                   'a prefix; web-search syntax ("a phrase", -not, or); a ticket number (7 or #7) finds that ticket '
                   'first. Results are sorted by relevance unless an ordering is given.'),
    )
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = django_filters.ChoiceFilter(
        choices=[(key, key) for key in [*ORDERINGS, RELEVANCE]],
        method="filter_ordering",
        empty_label=None,
        help_text=("Sort order; a leading - sorts descending. Default -number (newest first), with q relevance "
                   "(most relevant first; only with q). "
                   "status sorts in workflow order (new, open, pending, resolved, closed, cancelled), "
                   "priority from P1 to P4; ties by number, newest first for both."),
    )

    class Meta:
        model = Ticket
        fields: list[str] = []

    def __init__(self, *args, actor=None, highlight: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor if actor is not None else getattr(self.request, "user", None)
        self.highlight = highlight  # with q: each row carries its search highlight (search.hit)

    def is_valid(self):
        valid = super().is_valid()
        data = self.form.cleaned_data if valid else {}
        if valid and data.get("ordering") == RELEVANCE and not (data.get("q") or "").strip():
            self.form.add_error("ordering", _("Sorting by relevance needs a search (q)."))
            return False
        return valid

    def filter_assignee(self, queryset, name, value):
        if value == "me":
            return queryset.filter(assignee_id=getattr(self.actor, "pk", None))
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee_id=value)

    def filter_category(self, queryset, name, value):

        if value is None:
            return queryset
        return queryset.filter(category_id__in=sorted(category_descendant_ids([int(value)])))

    def filter_tag(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        through = Ticket.tags.through
        return queryset.filter(
            Exists(through.objects.filter(ticket_id=OuterRef("pk"), tag__name__iexact=value))
        )

    def filter_q(self, queryset, name, value):
        compiled = search.compile_search(value)
        if compiled is None:
            return queryset
        # Agents match internal notes too; anyone else only what the requester may read.
        return search.search_filter(queryset, compiled, agent=permissions.is_agent(self.actor),
                                    highlight=self.highlight)

    def filter_ordering(self, queryset, name, value):
        if value == RELEVANCE:
            return queryset  # filter_q ordered the search by rank (is_valid: q is there)
        return queryset.order_by(*ticket_ordering(value).order_by())
