"""Keyset ("seek") pagination: the one paginator of the API lists and the desk's queue.

A list is ordered by one column, then a unique whole-number tie-breaker (a ticket's
number, a row's id), each in its own direction (`Ordering`). A page starts strictly
after (or, reading back, before) the (value, tie) pair of a row, so page 4000 costs what
page 1 costs, rows sharing a value are walked once each however many there are, and
nothing counts the table. (DRF's CursorPagination steps through equal values with an
offset capped at 1000: with more than 1000 rows of one value its `next` link loops.)

A column is read one of three ways:

* plain, a model field or an expression: `WHERE key >= v AND (key > v OR (key = v AND
  tie > t)) ORDER BY key, tie LIMIT size + 1` (directions as the ordering says; the
  redundant first condition lets the planner start an index range at `v`);
* grouped, a column with a few fixed values in a fixed order (`Column.values`: a
  ticket's status in workflow order, its priority P1..P4): one `WHERE col = value [AND
  tie > t] ORDER BY tie LIMIT size + 1` per value from the cursor's value on, all in one
  UNION ALL, each served by a (col, tie) index whatever the directions; Python keeps the
  first `size + 1` in value order;
* split, a column that can be empty, empty rows last in both directions
  (`Column.split`: the desk's due time): the rows with a value, walked from another
  table (`Split.filled`), and those without one, by tie, each cut at the cursor and
  limited to the page, in one UNION ALL.

Grouped and split reads give the page's keys; a second statement loads its rows (and
what they prefetch), so the surplus rows of the other parts are never built.

A cursor is one format everywhere: a token signed with the site's key
(`django.core.signing`, salt `SALT`) over the ordering it belongs to (`Ordering.label`),
the sort value and tie of its row, and the direction. A token that does not verify,
belongs to another ordering, or holds a value the column cannot have is `InvalidCursor`:
the API answers 400 problem details with `errors.cursor`, the desk shows the message on
the queue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core import signing
from django.db import models
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError

SALT = "warden.keyset.cursor"
MAX_TOKEN_CHARS = 1000
MAX_TIE = 2**63 - 1
MAX_STR_CHARS = 500
# Every row of a page carries its sort value in this attribute (None: an empty value).
SORT_VALUE = "keyset_value"
_KEY = "_keyset_key"  # the annotation an expression column sorts on

# What a column's values are (how a cursor's value is checked).
INT = "int"
STR = "str"
DATETIME = "datetime"
_OUTPUT_FIELDS = {INT: models.BigIntegerField, STR: models.TextField, DATETIME: models.DateTimeField}


def _signer() -> signing.Signer:
    """Signs with SECRET_KEY, verifies with its fallbacks too (a key rotation keeps cursors).
    No timestamp: the same row of the same ordering always gives the same token."""
    return signing.Signer(salt=SALT)


class InvalidCursor(ApplicationError):
    def __init__(self, message: str | None = None):
        message = message or _("This cursor is not valid for this list; start again without it.")
        super().__init__(message, errors={"cursor": [message]})


@dataclass(frozen=True)
class Split:
    """The two parts of a column that can be empty (see the module docstring).

    `filled`: one row per listed row that has a value, its (primary key, value, tie)
    under the names `pk`, `value` and `tie`; `empty`: the listed rows without a value
    (None: there are none).
    """

    filled: QuerySet
    pk: str
    value: str
    tie: str
    empty: QuerySet | None


@dataclass(frozen=True)
class Column:
    """What a list sorts on before its tie-breaker.

    `name` is the column in the cursor's label; `field` the model field (default: `name`),
    or `expression` a callable giving the expression to sort on; `values` makes it a
    grouped column (those values, ascending); `split` a column that can be empty (given
    the list's queryset, its two parts). `tie_descending` fixes the tie-breaker's
    direction whatever the column's (None: the column's).
    """

    name: str
    kind: str
    field: str | None = None
    expression: Callable[[], Any] | None = None
    values: tuple | None = None
    split: Callable[[QuerySet], Split] | None = None
    tie_descending: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in _OUTPUT_FIELDS:
            raise ValueError(f"Unknown kind of column value: {self.kind!r}")
        if sum(x is not None for x in (self.expression, self.values, self.split)) > 1:
            raise ValueError("A column is an expression, grouped or split: one of them")

    @property
    def source(self) -> str:
        return self.field or self.name

    def check(self, raw: object) -> object:
        """A cursor's value, checked (ValueError when the column cannot hold it)."""
        if raw is None:
            if self.split is None:
                raise ValueError("no value")
            return None
        if self.kind == DATETIME:
            if not isinstance(raw, str):
                raise ValueError("not a time")
            value: object = datetime.fromisoformat(raw)
            if value.tzinfo is None:  # type: ignore[attr-defined]
                raise ValueError("naive time")
        elif self.kind == INT:
            if isinstance(raw, bool) or not isinstance(raw, int) or abs(raw) > MAX_TIE:
                raise ValueError("not a whole number")
            value = raw
        else:
            if not isinstance(raw, str) or len(raw) > MAX_STR_CHARS or "\x00" in raw:
                raise ValueError("not a string")
            value = raw
        if self.values is not None and value not in self.values:
            raise ValueError("not one of the column's values")
        return value


def _kind(field: models.Field) -> str:
    if isinstance(field, models.DateTimeField):
        return DATETIME
    if isinstance(field, models.IntegerField | models.AutoField):
        return INT
    if isinstance(field, models.CharField | models.TextField):
        return STR
    raise ValueError(f"No keyset support for {type(field).__name__}")


@dataclass(frozen=True)
class Ordering:
    """ORDER BY `column` (or nothing) then `tie`, each in its own direction."""

    column: Column | None
    descending: bool
    tie: str
    tie_descending: bool

    @classmethod
    def by(cls, column: Column | None, *, descending: bool, tie: str) -> Ordering:
        """`column` in that direction; the tie in the column's fixed tie direction, else the same."""
        tie_descending = descending
        if column is not None and column.tie_descending is not None:
            tie_descending = column.tie_descending
        return cls(column=column, descending=descending, tie=tie, tie_descending=tie_descending)

    @classmethod
    def parse(cls, terms: str | Sequence[str], *, tie: str, model: type[models.Model]) -> Ordering:
        """`("name", "pk")`, `("-seq",)`, `"-pk"`: a model field then `tie`, or `tie` alone."""
        terms = [terms] if isinstance(terms, str) else list(terms)
        if not terms or terms[-1].lstrip("-") != tie or len(terms) > 2:
            raise ValueError(f"A keyset ordering is (field, {tie}) or ({tie},), not {terms!r}")
        tie_descending = terms[-1].startswith("-")
        if len(terms) == 1:
            return cls(column=None, descending=tie_descending, tie=tie, tie_descending=tie_descending)
        name = terms[0].lstrip("-")
        column = Column(name, _kind(model._meta.get_field(name)))
        return cls(column=column, descending=terms[0].startswith("-"), tie=tie, tie_descending=tie_descending)

    @property
    def label(self) -> str:
        """The ordering as a string (what a cursor is bound to)."""
        parts = [] if self.column is None else [("-" if self.descending else "") + self.column.name]
        return ",".join([*parts, ("-" if self.tie_descending else "") + self.tie])

    def order_by(self) -> list:
        """ORDER BY terms for a queryset read whole (a page is read with `paginate()`)."""
        terms: list = []
        column = self.column
        if column is not None:
            if column.split is not None:
                raise ValueError(f"{column.name} is read in parts: use paginate()")
            if column.values is None and column.expression is None:
                terms.append(_term(column.source, self.descending))
            else:
                key: Any = column.expression() if column.expression is not None else Case(
                    *[When(**{column.source: v}, then=Value(i)) for i, v in enumerate(column.values or ())],
                    output_field=IntegerField())
                terms.append(key.desc() if self.descending else key.asc())
        return [*terms, _term(self.tie, self.tie_descending)]


@dataclass(frozen=True)
class Cursor:
    value: object  # the sort value of the row (None when ordering by the tie alone, or an empty value)
    tie: int
    backwards: bool  # True: the page before the row (a "previous" link)

    def encode(self, ordering: Ordering) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        return _signer().sign_object({"o": ordering.label, "v": value, "t": self.tie, "b": int(self.backwards)})

    @classmethod
    def decode(cls, token: str | None, *, ordering: Ordering) -> Cursor | None:
        """The cursor in `token` (None for no token); InvalidCursor when it is not one of ours."""
        if token is None or token == "":
            return None
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidCursor()
        try:
            data = _signer().unsign_object(token)
            if not isinstance(data, dict) or data.get("o") != ordering.label:
                raise InvalidCursor()
            tie, backwards, raw = data["t"], data["b"], data["v"]
            if isinstance(tie, bool) or not isinstance(tie, int) or not 0 < tie <= MAX_TIE:
                raise InvalidCursor()
            if isinstance(backwards, bool) or backwards not in (0, 1):
                raise InvalidCursor()
            if ordering.column is None:
                if raw is not None:
                    raise InvalidCursor()
                value = None
            else:
                value = ordering.column.check(raw)
        except (signing.BadSignature, ValueError, TypeError, KeyError, UnicodeError) as exc:
            raise InvalidCursor() from exc
        return cls(value=value, tie=tie, backwards=bool(backwards))


@dataclass
class Page:
    rows: list
    next_cursor: str | None  # tokens
    previous_cursor: str | None


# A page's keys in reading order: (sort value, tie, row); the row is None when it went
# away between reading the keys and loading the rows.
Entry = tuple[object, int, Any]


def paginate(queryset: QuerySet, *, ordering: Ordering, cursor: str | None, size: int) -> Page:
    """The `size` rows of `queryset` after (or before) the row of the token `cursor`, in
    `ordering` (raises InvalidCursor for a token that is not a cursor of this ordering)."""
    if size < 1:
        raise ValueError("size must be positive")
    position = Cursor.decode(cursor, ordering=ordering)
    column = ordering.column
    if column is not None and column.values is not None:
        entries = _read_grouped(queryset, ordering=ordering, position=position, size=size)
    elif column is not None and column.split is not None:
        entries = _read_split(queryset, ordering=ordering, position=position, size=size)
    else:
        entries = _read_plain(queryset, ordering=ordering, position=position, size=size)
    backwards = position is not None and position.backwards
    more = len(entries) > size
    entries = entries[:size]
    if backwards:
        entries.reverse()
    has_next = True if backwards else more
    has_previous = position is not None and (not backwards or more)
    rows = []
    for value, _tie, row in entries:
        if row is not None:
            setattr(row, SORT_VALUE, value)
            rows.append(row)

    def token(entry: Entry, back: bool) -> str:
        return Cursor(value=entry[0], tie=entry[1], backwards=back).encode(ordering)

    return Page(
        rows=rows,
        next_cursor=token(entries[-1], False) if entries and has_next else None,
        previous_cursor=token(entries[0], True) if entries and has_previous else None,
    )


def _after(descending: bool) -> str:
    return "lt" if descending else "gt"


def _term(name: str, descending: bool) -> str:
    return f"-{name}" if descending else name


def _cut(key: str, tie: str, position: Cursor, *, key_desc: bool, tie_desc: bool) -> tuple[Q, Q]:
    """(key at or after the cursor's value, and strictly after the cursor's row)."""
    op = _after(key_desc)
    return (Q(**{f"{key}__{op}e": position.value}),
            Q(**{f"{key}__{op}": position.value}) | Q(**{key: position.value, f"{tie}__{_after(tie_desc)}": position.tie}))


def _read_plain(queryset: QuerySet, *, ordering: Ordering, position: Cursor | None, size: int) -> list[Entry]:
    backwards = position is not None and position.backwards
    key_desc = ordering.descending != backwards
    tie_desc = ordering.tie_descending != backwards
    column, tie = ordering.column, ordering.tie
    key = None
    if column is not None:
        key = column.source
        if column.expression is not None:
            queryset = queryset.annotate(**{_KEY: column.expression()})
            key = _KEY
    if position is not None:
        if key is None:
            queryset = queryset.filter(**{f"{tie}__{_after(tie_desc)}": position.tie})
        else:
            at_or_after, after = _cut(key, tie, position, key_desc=key_desc, tie_desc=tie_desc)
            queryset = queryset.filter(at_or_after).filter(after)
    order = [] if key is None else [_term(key, key_desc)]
    rows = list(queryset.order_by(*order, _term(tie, tie_desc))[: size + 1])
    return [(None if key is None else getattr(row, key), getattr(row, tie), row) for row in rows]


def _read_grouped(queryset: QuerySet, *, ordering: Ordering, position: Cursor | None, size: int) -> list[Entry]:
    column, tie = ordering.column, ordering.tie
    assert column is not None
    assert column.values is not None
    field = column.source
    backwards = position is not None and position.backwards
    tie_desc = ordering.tie_descending != backwards
    order = list(reversed(column.values)) if ordering.descending != backwards else list(column.values)
    if position is not None:
        order = order[order.index(position.value):]
    rank = {value: i for i, value in enumerate(order)}
    parts = []
    for value in order:
        part = queryset.filter(**{field: value})
        if position is not None and value == position.value:
            part = part.filter(**{f"{tie}__{_after(tie_desc)}": position.tie})
        parts.append(part.order_by(_term(tie, tie_desc)).values_list("pk", field, tie)[: size + 1])
    combined = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    sign = -1 if tie_desc else 1
    keys = sorted(combined, key=lambda item: (rank[item[1]], sign * item[2]))[: size + 1]
    return _load(queryset, keys)


def _read_split(queryset: QuerySet, *, ordering: Ordering, position: Cursor | None, size: int) -> list[Entry]:
    """Rows with a value in value order, then those without one (first, reading back)."""
    column, tie = ordering.column, ordering.tie
    assert column is not None
    assert column.split is not None
    split = column.split(queryset)
    backwards = position is not None and position.backwards
    key_desc = ordering.descending != backwards
    tie_desc = ordering.tie_descending != backwards

    filled = None  # (pk, value, tie) of the rows with a value
    if position is None or position.value is not None or backwards:
        filled = split.filled
        if position is not None and position.value is not None:
            at_or_after, after = _cut(split.value, split.tie, position, key_desc=key_desc, tie_desc=tie_desc)
            filled = filled.filter(at_or_after).filter(after)
        filled = filled.order_by(_term(split.value, key_desc), _term(split.tie, tie_desc)).values_list(
            split.pk, split.value, split.tie)[: size + 1]
    empty = None  # (pk, NULL, tie) of the others
    if split.empty is not None and (position is None or position.value is None or not backwards):
        empty = split.empty
        if position is not None and position.value is None:
            empty = empty.filter(**{f"{tie}__{_after(tie_desc)}": position.tie})
        empty = (empty.annotate(**{_KEY: Value(None, output_field=_OUTPUT_FIELDS[column.kind]())})
                 .order_by(_term(tie, tie_desc)).values_list("pk", _KEY, tie)[: size + 1])
    parts = [p for p in ((empty, filled) if backwards else (filled, empty)) if p is not None]
    if not parts:  # a cursor among the empty rows of a list that has none
        return []
    combined = list(parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0])
    # Python's sort is stable: by tie, then by value, each in its direction.
    with_value = sorted((k for k in combined if k[1] is not None), key=lambda k: k[2], reverse=tie_desc)
    with_value.sort(key=lambda k: k[1], reverse=key_desc)
    without = sorted((k for k in combined if k[1] is None), key=lambda k: k[2], reverse=tie_desc)
    keys = (without + with_value) if backwards else (with_value + without)
    return _load(queryset, keys[: size + 1])


def _load(queryset: QuerySet, keys: list) -> list[Entry]:
    """The rows of `keys` ((pk, value, tie) in page order) from `queryset`, in one statement."""
    loaded = {row.pk: row for row in queryset.filter(pk__in=[pk for pk, _v, _t in keys]).order_by()} if keys else {}
    return [(value, tie_value, loaded.get(pk)) for pk, value, tie_value in keys]
