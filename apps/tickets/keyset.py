"""Keyset ("seek") pagination over one sort column and a unique tie-breaker.

A page starts strictly after (or, reading back, before) the (sort value, tie) pair of a
row, so page 4000 costs what page 1 costs, rows sharing a sort value are walked once
each however many there are, and nothing counts the table. DRF's CursorPagination cuts
on the first ordering field and steps through equal values with an offset (capped at
1000): with more than 1000 tickets of one priority its `next` link loops and each page
scans further. This module replaces it for the tickets API; the desk's queue
(`ui/agent/queue.py`) uses the same technique with its own columns.

Two ways to read a page:

* plain: `WHERE sort >= v AND (sort > v OR (sort = v AND tie > t)) ORDER BY sort, tie
  LIMIT size + 1` (directions as the ordering says; the redundant first condition lets
  the planner start an index range at `v`);
* grouped, for a column with a few fixed values (status, priority): one
  `WHERE col = value [AND tie > t] ORDER BY tie LIMIT size + 1` per value from the
  cursor's value on, all in one UNION ALL, each served by a (col, tie) index whatever the
  directions; Python keeps the first `size + 1` in value order. The values' order is
  the order of the list given (for the API, sorted choice values).

A cursor is an opaque URL-safe token with the ordering it belongs to, the sort value
and tie of its row, and the direction. A token that does not parse, or belongs to another
ordering, is `InvalidCursor` (400 with `errors.cursor`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import models
from django.db.models import Q, QuerySet

from apps.core.errors import ApplicationError

MAX_TOKEN_CHARS = 1000
MAX_TIE = 2**63 - 1


class InvalidCursor(ApplicationError):
    def __init__(self, message: str = "This cursor is not valid for this list; start again without it."):
        super().__init__(message, errors={"cursor": [message]})


@dataclass(frozen=True)
class SortKey:
    """ORDER BY `field` (or nothing) then `tie`, each in its own direction."""

    field: str | None
    descending: bool
    tie: str
    tie_descending: bool

    @classmethod
    def parse(cls, ordering: Sequence[str], *, tie: str) -> SortKey:
        """`("-priority", "-number")`, `("-number",)`, `("name", "pk")`: the last term must be `tie`."""
        terms = list(ordering)
        if not terms or terms[-1].lstrip("-") != tie or len(terms) > 2:
            raise ValueError(f"A keyset ordering is (field, {tie}) or ({tie},), not {ordering!r}")
        tie_descending = terms[-1].startswith("-")
        if len(terms) == 1:
            return cls(field=None, descending=tie_descending, tie=tie, tie_descending=tie_descending)
        return cls(field=terms[0].lstrip("-"), descending=terms[0].startswith("-"), tie=tie,
                   tie_descending=tie_descending)

    @property
    def label(self) -> str:
        """The ordering as a string (what a cursor is bound to)."""
        parts = [] if self.field is None else [("-" if self.descending else "") + self.field]
        return ",".join([*parts, ("-" if self.tie_descending else "") + self.tie])

    def order_by(self, *, reverse: bool) -> list[str]:
        def term(name: str, descending: bool) -> str:
            return ("-" if descending != reverse else "") + name

        terms = [] if self.field is None else [term(self.field, self.descending)]
        return [*terms, term(self.tie, self.tie_descending)]


@dataclass(frozen=True)
class Cursor:
    value: object  # the sort value of the row (None when ordering by the tie alone)
    tie: int
    backwards: bool  # True: the page before the row (a "previous" link)

    def encode(self, key: SortKey) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps({"o": key.label, "v": value, "t": self.tie, "b": int(self.backwards)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None, *, key: SortKey, model: type[models.Model]) -> Cursor | None:
        """The cursor in `token` (None for no token); InvalidCursor when it is not one of ours."""
        if token is None or token == "":
            return None
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidCursor()
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if not isinstance(data, dict) or data.get("o") != key.label:
                raise InvalidCursor()
            tie, backwards = data["t"], data["b"]
            if isinstance(tie, bool) or not isinstance(tie, int) or not 0 < tie <= MAX_TIE or backwards not in (0, 1):
                raise InvalidCursor()
            value = None if key.field is None else _parse_value(model._meta.get_field(key.field), data["v"])
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidCursor() from exc
        return cls(value=value, tie=tie, backwards=bool(backwards))


def _parse_value(field, raw):
    if raw is None:
        raise ValueError("no value")  # keyset columns are never NULL
    if isinstance(field, models.DateTimeField):
        if not isinstance(raw, str):
            raise ValueError("not a time")
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            raise ValueError("naive time")
        return value
    if isinstance(field, models.IntegerField | models.AutoField):
        if isinstance(raw, bool) or not isinstance(raw, int) or abs(raw) > MAX_TIE:
            raise ValueError("not a whole number")
        return raw
    if isinstance(field, models.CharField | models.TextField):
        if not isinstance(raw, str) or len(raw) > 500 or "\x00" in raw:
            raise ValueError("not a string")
        return raw
    raise ValueError(f"no keyset support for {type(field).__name__}")


@dataclass
class Page:
    rows: list
    next_cursor: Cursor | None
    previous_cursor: Cursor | None


def page(
    queryset: QuerySet,
    *,
    key: SortKey,
    cursor: Cursor | None,
    size: int,
    values: Sequence | None = None,
) -> Page:
    """The `size` rows of `queryset` after (or before) `cursor` in `key` order.

    `values`: the sort column takes only these values, in this (ascending) order: read it
    grouped (see the module docstring). Rows with another value are never listed.
    """
    if size < 1:
        raise ValueError("size must be positive")
    backwards = cursor is not None and cursor.backwards
    if values is not None and key.field is not None:
        rows = _read_grouped(queryset, key=key, cursor=cursor, size=size, values=list(values))
    else:
        rows = _read_plain(queryset, key=key, cursor=cursor, size=size)
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    has_next = True if backwards else more
    has_previous = cursor is not None and (not backwards or more)

    def at(row, back: bool) -> Cursor:
        value = None if key.field is None else getattr(row, key.field)
        return Cursor(value=value, tie=getattr(row, key.tie), backwards=back)

    return Page(
        rows=rows,
        next_cursor=at(rows[-1], False) if rows and has_next else None,
        previous_cursor=at(rows[0], True) if rows and has_previous else None,
    )


def _after(descending: bool) -> str:
    return "lt" if descending else "gt"


def _read_plain(queryset: QuerySet, *, key: SortKey, cursor: Cursor | None, size: int) -> list:
    backwards = cursor is not None and cursor.backwards
    field_desc = key.descending != backwards
    tie_desc = key.tie_descending != backwards
    if cursor is not None:
        tie_after = {f"{key.tie}__{_after(tie_desc)}": cursor.tie}
        if key.field is None:
            queryset = queryset.filter(**tie_after)
        else:
            op = _after(field_desc)
            queryset = queryset.filter(**{f"{key.field}__{op}e": cursor.value}).filter(
                Q(**{f"{key.field}__{op}": cursor.value}) | Q(**{key.field: cursor.value}, **tie_after)
            )
    return list(queryset.order_by(*key.order_by(reverse=backwards))[: size + 1])


def _read_grouped(queryset: QuerySet, *, key: SortKey, cursor: Cursor | None, size: int, values: list) -> list:
    backwards = cursor is not None and cursor.backwards
    field_desc = key.descending != backwards
    tie_desc = key.tie_descending != backwards
    order = list(reversed(values)) if field_desc else values
    if cursor is not None:
        if cursor.value not in order:
            raise InvalidCursor()
        order = order[order.index(cursor.value):]
    rank = {value: i for i, value in enumerate(order)}
    tie_order = f"-{key.tie}" if tie_desc else key.tie
    parts = []
    for value in order:
        part = queryset.filter(**{key.field: value})
        if cursor is not None and value == cursor.value:
            part = part.filter(**{f"{key.tie}__{_after(tie_desc)}": cursor.tie})
        parts.append(part.order_by(tie_order).values_list("pk", key.field, key.tie)[: size + 1])
    combined = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    sign = -1 if tie_desc else 1
    # The UNION reads keys only; the page's rows (and what they prefetch) are loaded in a
    # second statement, so the other values' surplus rows are never built.
    keys = sorted(combined, key=lambda item: (rank[item[1]], sign * item[2]))[: size + 1]
    loaded = {row.pk: row for row in queryset.filter(pk__in=[pk for pk, _value, _tie in keys])} if keys else {}
    return [loaded[pk] for pk, _value, _tie in keys if pk in loaded]
