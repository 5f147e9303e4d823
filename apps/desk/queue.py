"""The queue's sort columns, read a page at a time by the keyset paginator.

The selector decides which tickets the agent sees and applies the filters; this module
maps the `sort` parameter to a ticket column (`apps.tickets.keyset`, the columns the API
sorts on too) and reads one page with `apps.core.keyset.paginate`, so page 400 costs
what page 1 costs, no COUNT(*) runs over the tenant's tickets, and a cursor is the same
signed token as the API's. A cursor that is not one of ours, or belongs to another sort,
raises `InvalidCursor`; the view says so on the queue.

"Due" is the soonest due time of a ticket's running SLA clocks, and can be empty:
tickets without a running clock come last in both directions (a split column). The
tickets with a running clock are walked from the clocks' due-time index
(`apps.sla.selectors.next_due_clocks`), those without one by number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from django.db.models import QuerySet

from apps.core import keyset
from apps.core.keyset import Column
from apps.sla.selectors import next_due_clocks, ticket_running_clock_exists
from apps.tickets import keyset as ticket_keyset


def _due_split(tickets: QuerySet, *, all_due: bool) -> keyset.Split:
    return keyset.Split(
        filled=next_due_clocks(tickets), pk="ticket_id", value="due_at", tie="ticket__number",
        empty=None if all_due else tickets.exclude(ticket_running_clock_exists()),
    )


def _due(*, all_due: bool) -> Column:
    return Column("due", keyset.DATETIME, split=partial(_due_split, all_due=all_due))


# `sort` column -> what it sorts on (None: the number alone).
SORTS: dict[str, Column | None] = {
    "number": None,
    "title": ticket_keyset.TITLE,
    "status": ticket_keyset.STATUS,
    "priority": ticket_keyset.PRIORITY,
    "assignee": ticket_keyset.ASSIGNEE,
    "team": ticket_keyset.TEAM,
    "updated": ticket_keyset.UPDATED,
    "due": _due(all_due=False),
}
DEFAULT_SORT = "-updated"


RELEVANCE = "relevance"  # a search's order (most relevant first): the default of a searched queue


def parse_sort(value: str | None, *, searched: bool = False) -> tuple[str, bool]:
    """(column, descending) of a `sort` parameter; the default for anything unknown:
    relevance for a searched queue, else DEFAULT_SORT."""
    value = (value or "").strip()
    if searched and value.lstrip("-") in ("", RELEVANCE):
        return RELEVANCE, True
    descending = value.startswith("-")
    column = value.lstrip("-")
    if column not in SORTS:
        return parse_sort(DEFAULT_SORT)
    return column, descending


def sort_param(column: str, descending: bool) -> str:
    return f"-{column}" if descending else column


@dataclass
class QueuePage:
    rows: list
    next_cursor: str | None
    previous_cursor: str | None
    column: str
    descending: bool


def paginate(queryset: QuerySet, *, sort: str | None, cursor: str | None, size: int,
             all_due: bool = False, search_text: str | None = None) -> QueuePage:
    """One page of `queryset` ordered by `sort`, starting after `cursor` (InvalidCursor
    when it is not a cursor of this sort).

    `all_due`: every ticket of `queryset` has a due time (an SLA filter on states with a
    running clock), so sorting by due time need not look for tickets without one.
    `search_text`: `queryset` is a search for it (`ticket_list` with `q`), which sorts by
    relevance unless another sort is asked for.
    """
    name, descending = parse_sort(sort, searched=search_text is not None)
    if name == RELEVANCE:
        ordering = ticket_keyset.relevance_ordering(search_text or "")
    else:
        column = _due(all_due=True) if name == "due" and all_due else SORTS[name]
        ordering = ticket_keyset.ticket_ordering_by(column, descending=descending)
    page = keyset.paginate(queryset, ordering=ordering, cursor=cursor, size=size)
    return QueuePage(rows=page.rows, next_cursor=page.next_cursor, previous_cursor=page.previous_cursor,
                     column=name, descending=descending)
