"""The queue's sort columns and keyset ("cursor") pagination over `selectors.ticket_list`.

The selector decides which tickets the agent sees and applies the filters; this module
only orders that queryset by one column (ties broken by the ticket number) and cuts one
page out of it with a keyset condition, so page 400 costs what page 1 costs and no
COUNT(*) runs over the tenant's tickets.

A cursor is an opaque, URL-safe token holding the sort value and number of the row a
page starts after, and the direction. A cursor that does not parse is ignored (the
first page is shown): it is a bookmark, not an input that can do harm.

"Due" is the soonest due time of a ticket's running SLA clocks, and can be empty:
tickets without a running clock come last in both directions. It is read in two parts
in one UNION ALL, each cut at the cursor: the tickets with a running clock walked from
the clocks' due-time index (`apps.sla.selectors.next_due_clocks`), and those without
one by number. That statement gives the page's ticket ids; a second one loads the rows.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Case, CharField, DateTimeField, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce, Lower, NullIf

from apps.sla.selectors import next_due_clocks, ticket_running_clock_exists
from apps.tickets.choices import Priority, TicketStatus

STATUS_ORDER = [s.value for s in TicketStatus]  # workflow order, not alphabetical
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _status_rank():
    return Case(*[When(status=s, then=Value(i)) for i, s in enumerate(STATUS_ORDER)], default=Value(99),
                output_field=IntegerField())


def _person(prefix: str):
    return Lower(Coalesce(NullIf(F(f"{prefix}__full_name"), Value("")), F(f"{prefix}__email"), Value(""),
                          output_field=CharField()))


# Columns with a few fixed values are read group by group (one indexed query per value,
# newest first inside a value, all in one UNION ALL), instead of sorting the whole table
# on an expression: (field, values in ascending order).
GROUPED = {
    "status": ("status", STATUS_ORDER),
    "priority": ("priority", [p.value for p in Priority]),
}

# column -> (expression of the sort key, kind of value for the cursor)
SORTS = {
    "number": (lambda: F("number"), "int"),
    "title": (lambda: Lower("title"), "str"),
    "status": (_status_rank, "int"),
    "priority": (lambda: F("priority"), "str"),
    "assignee": (lambda: _person("assignee"), "str"),
    "team": (lambda: Lower(Coalesce(F("team__name"), Value(""), output_field=CharField())), "str"),
    "updated": (lambda: F("updated_at"), "datetime"),
    "due": (None, "datetime"),  # read through the SLA clocks: _paginate_due()
}
DEFAULT_SORT = "-updated"
SORT_KEY = "_desk_sort"


def parse_sort(value: str | None) -> tuple[str, bool]:
    """(column, descending) of a `sort` parameter; the default for anything unknown."""
    value = (value or "").strip()
    descending = value.startswith("-")
    column = value.lstrip("-")
    if column not in SORTS:
        return parse_sort(DEFAULT_SORT)
    return column, descending


def sort_param(column: str, descending: bool) -> str:
    return f"-{column}" if descending else column


@dataclass(frozen=True)
class Cursor:
    value: object
    number: int
    backwards: bool  # True: the page before the row (a "previous" link)

    def encode(self, kind: str) -> str:
        value = self.value.isoformat() if kind == "datetime" and isinstance(self.value, datetime) else self.value
        raw = json.dumps({"v": value, "n": self.number, "b": int(self.backwards)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None, kind: str, *, nullable: bool = False) -> Cursor | None:
        if not token or len(token) > 600:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            value, number, backwards = data["v"], int(data["n"]), bool(data["b"])
            if value is None:
                if not nullable:
                    return None
            elif kind == "datetime":
                value = datetime.fromisoformat(value)
                if value.tzinfo is None:
                    return None
            elif kind == "int":
                value = int(value)
            elif not isinstance(value, str):
                return None
        except (ValueError, TypeError, KeyError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not 0 < number < 2**31:
            return None
        return cls(value=value, number=number, backwards=backwards)


@dataclass
class Page:
    rows: list
    next_cursor: str | None
    previous_cursor: str | None
    column: str
    descending: bool


def paginate(queryset: QuerySet, *, sort: str | None, cursor: str | None, size: int, all_due: bool = False) -> Page:
    """One page of `queryset` ordered by `sort`, starting after `cursor`.

    `all_due`: every ticket of `queryset` has a due time (an SLA filter on states with a
    running clock), so sorting by due time need not look for tickets without one.
    """
    column, descending = parse_sort(sort)
    if column in GROUPED:
        return _paginate_grouped(queryset, column=column, descending=descending, cursor=cursor, size=size)
    if column == "due":
        return _paginate_due(queryset, descending=descending, cursor=cursor, size=size, all_due=all_due)
    expression, kind = SORTS[column]
    queryset = queryset.annotate(**{SORT_KEY: expression()})
    position = Cursor.decode(cursor, kind)
    # Reading backwards flips the order, then the page is flipped back.
    forward_desc = descending if position is None or not position.backwards else not descending
    if position is not None:
        after = "lt" if forward_desc else "gt"
        queryset = queryset.filter(
            Q(**{f"{SORT_KEY}__{after}": position.value})
            | Q(**{SORT_KEY: position.value, f"number__{after}": position.number})
        )
    prefix = "-" if forward_desc else ""
    rows = list(queryset.order_by(f"{prefix}{SORT_KEY}", f"{prefix}number")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if position is not None and position.backwards:
        rows.reverse()
    has_next = more if position is None or not position.backwards else True
    has_previous = position is not None and (not position.backwards or more)

    def token(row, backwards: bool) -> str:
        return Cursor(getattr(row, SORT_KEY), row.number, backwards).encode(kind)

    return Page(
        rows=rows,
        next_cursor=token(rows[-1], False) if rows and has_next else None,
        previous_cursor=token(rows[0], True) if rows and has_previous else None,
        column=column,
        descending=descending,
    )


def _paginate_grouped(queryset: QuerySet, *, column: str, descending: bool, cursor: str | None, size: int) -> Page:
    """Keyset pages over a column with a few values, newest ticket first inside a value.

    The cursor holds the value and number of the row a page starts after (or, for a
    "previous" link, before). Reading forward takes, from the cursor's value on, the next
    `size + 1` rows of each value (`WHERE field = v [AND number < n] ORDER BY number DESC
    LIMIT size + 1`, on the (field, -number) index) in one UNION ALL, then keeps the first
    `size + 1` in value order. Reading backward is the mirror image.
    """
    field, values = GROUPED[column]
    order = list(reversed(values)) if descending else list(values)
    position = Cursor.decode(cursor, "str")
    if position is not None and position.value not in order:
        position = None
    backwards = position is not None and position.backwards
    if position is None:
        groups = order
    elif backwards:
        groups = list(reversed(order[: order.index(position.value) + 1]))
    else:
        groups = order[order.index(position.value):]
    rank = {value: i for i, value in enumerate(groups)}
    parts = []
    for value in groups:
        part = queryset.filter(**{field: value})
        if position is not None and value == position.value:
            part = part.filter(number__gt=position.number) if backwards else part.filter(number__lt=position.number)
        parts.append(part.order_by("number" if backwards else "-number").values_list("pk", field, "number")[: size + 1])
    combined = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    # The UNION reads keys only; the page's rows (and what they prefetch) are loaded in a
    # second statement, so the other groups' surplus rows are never built.
    keys = sorted(combined, key=lambda key: (rank[key[1]], key[2] if backwards else -key[2]))
    more = len(keys) > size
    keys = keys[:size]
    if backwards:
        keys.reverse()
    loaded = {row.pk: row for row in queryset.filter(pk__in=[pk for pk, _value, _number in keys])} if keys else {}
    rows = [loaded[pk] for pk, _value, _number in keys if pk in loaded]
    has_next = more if not backwards else True
    has_previous = position is not None and (not backwards or more)

    def token(row, back: bool) -> str:
        return Cursor(getattr(row, field), row.number, back).encode("str")

    return Page(
        rows=rows,
        next_cursor=token(rows[-1], False) if rows and has_next else None,
        previous_cursor=token(rows[0], True) if rows and has_previous else None,
        column=column,
        descending=descending,
    )


def _paginate_due(queryset: QuerySet, *, descending: bool, cursor: str | None, size: int, all_due: bool) -> Page:
    """Keyset pages by due time, tickets without one last in both directions.

    The order is (has no due time, due time, number), due time and number in the sort's
    direction. Reading forward from a cursor takes the rest of the cursor's part and the
    next part; reading backward, the mirror image. The ids of the page (and of the row
    after it) come from one UNION ALL of the two parts; the rows themselves from
    `queryset` in a second statement, so a page is two statements whatever its size.
    """
    position = Cursor.decode(cursor, "datetime", nullable=True)
    backwards = position is not None and position.backwards
    reading_desc = descending != backwards
    after = "lt" if reading_desc else "gt"
    prefix = "-" if reading_desc else ""

    filled = None  # (ticket id, due time, number) of the tickets with a running clock
    if position is None or position.value is not None or backwards:
        filled = next_due_clocks(queryset)
        if position is not None and position.value is not None:
            filled = filled.filter(
                Q(**{f"due_at__{after}": position.value})
                | Q(due_at=position.value, **{f"ticket__number__{after}": position.number})
            )
        filled = filled.order_by(f"{prefix}due_at", f"{prefix}ticket__number").values_list(
            "ticket_id", "due_at", "ticket__number")[: size + 1]
    empty = None  # (ticket id, NULL, number) of the others
    if not all_due and (position is None or position.value is None or not backwards):
        empty = queryset.exclude(ticket_running_clock_exists())
        if position is not None and position.value is None:
            empty = empty.filter(**{f"number__{after}": position.number})
        empty = (empty.annotate(_no_due=Value(None, output_field=DateTimeField()))
                 .order_by(f"{prefix}number").values_list("pk", "_no_due", "number")[: size + 1])
    parts = [p for p in ((empty, filled) if backwards else (filled, empty)) if p is not None]
    if not parts:  # a cursor among tickets without a due time, which `all_due` says there are none of
        parts = [next_due_clocks(queryset).none().values_list("ticket_id", "due_at", "ticket__number")]
    combined = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]

    sign = -1 if reading_desc else 1
    empty_rank = 0 if backwards else 1

    def reading_key(item):
        _pk, due, number = item
        if due is None:
            return (empty_rank, timedelta(0), sign * number)
        return (1 - empty_rank, sign * (due - EPOCH), sign * number)

    keys = sorted(combined, key=reading_key)
    more = len(keys) > size
    keys = keys[:size]
    if backwards:
        keys.reverse()
    loaded = {row.pk: row for row in queryset.filter(pk__in=[pk for pk, _due, _number in keys])} if keys else {}
    rows = []
    for pk, due, _number in keys:
        row = loaded.get(pk)
        if row is not None:  # gone between the two statements: skipped
            setattr(row, SORT_KEY, due)
            rows.append(row)
    has_next = more if not backwards else True
    has_previous = position is not None and (not backwards or more)

    def token(item, back: bool) -> str:
        pk, due, number = item
        return Cursor(due, number, back).encode("datetime")

    return Page(
        rows=rows,
        next_cursor=token(keys[-1], False) if keys and has_next else None,
        previous_cursor=token(keys[0], True) if keys and has_previous else None,
        column="due",
        descending=descending,
    )
