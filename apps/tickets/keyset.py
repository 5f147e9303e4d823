"""What ticket lists sort on: the columns of the API's `ordering` and the desk's `sort`.

One paginator reads them (`apps.core.keyset`); this module only says what a ticket sorts
on, so the API and the desk order alike and share one cursor format. The tie-breaker is
the ticket number.

* Status sorts in workflow order (`workflow.STATUSES`: new, open, pending, resolved,
  closed, cancelled), priority from P1 to P4; both are read value by value (grouped),
  newest ticket first within a value in both directions.
* Created and updated times: the tie follows the column's direction.
* Title, assignee (name, else email) and team (name) sort on expressions, for the desk.
* Relevance (a search's rank, most relevant first) exists only for a searched list
  (`search.relevance_column`: the newest matches ranked, then the older ones by number;
  bound to the query, so a cursor of one search is refused by another).
"""

from __future__ import annotations

from django.db.models import CharField, F, Value
from django.db.models.functions import Coalesce, Lower, NullIf

from apps.core import keyset
from apps.core.keyset import Column, Ordering

from . import search, workflow
from .choices import Priority

TIE = "number"


def _person(prefix: str):
    return Lower(Coalesce(NullIf(F(f"{prefix}__full_name"), Value("")), F(f"{prefix}__email"), Value(""),
                          output_field=CharField()))


def _team():
    return Lower(Coalesce(F("team__name"), Value(""), output_field=CharField()))


STATUS = Column("status", keyset.STR, values=tuple(workflow.STATUSES), tie_descending=True)
PRIORITY = Column("priority", keyset.STR, values=tuple(Priority.values), tie_descending=True)
CREATED = Column("created_at", keyset.DATETIME)
UPDATED = Column("updated_at", keyset.DATETIME)
TITLE = Column("title", keyset.STR, expression=lambda: Lower("title"))
ASSIGNEE = Column("assignee", keyset.STR, expression=lambda: _person("assignee"))
TEAM = Column("team", keyset.STR, expression=_team)


def ticket_ordering_by(column: Column | None, *, descending: bool) -> Ordering:
    """Tickets by `column` (None: by number alone), ties by number."""
    return Ordering.by(column, descending=descending, tie=TIE)


# The API's `ordering` parameter -> ordering (the FilterSet's whitelist).
ORDERINGS: dict[str, Ordering] = {
    "-number": ticket_ordering_by(None, descending=True),
    "number": ticket_ordering_by(None, descending=False),
    "-created_at": ticket_ordering_by(CREATED, descending=True),
    "created_at": ticket_ordering_by(CREATED, descending=False),
    "-updated_at": ticket_ordering_by(UPDATED, descending=True),
    "updated_at": ticket_ordering_by(UPDATED, descending=False),
    "priority": ticket_ordering_by(PRIORITY, descending=False),
    "-priority": ticket_ordering_by(PRIORITY, descending=True),
    "status": ticket_ordering_by(STATUS, descending=False),
    "-status": ticket_ordering_by(STATUS, descending=True),
}
DEFAULT_ORDERING = "-number"
RELEVANCE = "relevance"


def relevance_ordering(search_text: str) -> Ordering:
    """Most relevant first, then newest: the order of a list searched for `search_text`."""
    return ticket_ordering_by(search.relevance_column(search_text), descending=True)


def ticket_ordering(value: str | None, *, search_text: str | None = None) -> Ordering:
    """The ordering of an `ordering` parameter (validated by the FilterSet before this runs).

    `search_text`: the list is a search for it (`search.search_filter`); relevance is then
    its default and may be asked for. Without one, `relevance` means the default (-number).
    """
    if search_text is not None and value in (None, "", RELEVANCE):
        return relevance_ordering(search_text)
    return ORDERINGS.get(value or DEFAULT_ORDERING, ORDERINGS[DEFAULT_ORDERING])
