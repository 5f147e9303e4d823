"""The keyset paginator's cursors, without the database: one signed format, bound to its
ordering, every value checked against its column (pages themselves: tests/tickets/
test_pagination.py for the API, tests/ui/test_agent_views.py and test_sla_ui.py for the desk)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.core.keyset import DATETIME, INT, STR, Column, Cursor, InvalidCursor, Ordering, Split

STATUS = Column("status", STR, values=("new", "open", "closed"), tie_descending=True)
CREATED = Column("created_at", DATETIME)
DUE = Column("due", DATETIME, split=lambda queryset: Split(queryset, "pk", "due", "number", None))
BY_STATUS = Ordering.by(STATUS, descending=False, tie="number")


def test_a_cursor_round_trips_and_the_same_row_gives_the_same_token():
    when = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    for ordering, value in ((BY_STATUS, "open"), (Ordering.by(CREATED, descending=True, tie="number"), when),
                            (Ordering.by(None, descending=True, tie="pk"), None),
                            (Ordering.by(DUE, descending=False, tie="number"), None),
                            (Ordering.by(Column("order", INT), descending=False, tie="pk"), 7)):
        for backwards in (False, True):
            token = Cursor(value, 42, backwards).encode(ordering)
            assert token == Cursor(value, 42, backwards).encode(ordering)
            assert Cursor.decode(token, ordering=ordering) == Cursor(value, 42, backwards)
    assert Cursor.decode(None, ordering=BY_STATUS) is None
    assert Cursor.decode("", ordering=BY_STATUS) is None


def test_labels_and_tie_directions():
    assert BY_STATUS.label == "status,-number"  # newest first within a status
    assert Ordering.by(STATUS, descending=True, tie="number").label == "-status,-number"
    assert Ordering.by(CREATED, descending=False, tie="number").label == "created_at,number"
    assert Ordering.by(None, descending=True, tie="number").label == "-number"


@pytest.mark.parametrize("token", [
    "garbage", "a:b", ":", "x" * 2000, "é:ü",
    Cursor("open", 1, False).encode(BY_STATUS) + "x",  # signature changed
    Cursor("open", 1, False).encode(Ordering.by(STATUS, descending=True, tie="number")),  # another ordering
    Cursor("pending", 1, False).encode(BY_STATUS),  # not one of the column's values
    Cursor(None, 1, False).encode(BY_STATUS),  # no value where one is needed
    Cursor("open", 0, False).encode(BY_STATUS),  # not a row's tie
    Cursor("open", True, False).encode(BY_STATUS),
    Cursor("open", 2**63, False).encode(BY_STATUS),
])
def test_bad_cursors_are_invalid(token):
    with pytest.raises(InvalidCursor) as info:
        Cursor.decode(token, ordering=BY_STATUS)
    assert list(info.value.errors) == ["cursor"]
    assert info.value.status == 400


def test_values_are_checked_against_their_column():
    by_created = Ordering.by(CREATED, descending=False, tie="number")
    for value in ("2026-05-01T12:00:00", "yesterday", 5, None):  # naive, not a time, not a string, empty
        with pytest.raises(InvalidCursor):
            Cursor.decode(Cursor(value, 3, False).encode(by_created), ordering=by_created)
    by_order = Ordering.by(Column("order", INT), descending=False, tie="pk")
    for value in ("7", 7.5, 2**64, False):
        with pytest.raises(InvalidCursor):
            Cursor.decode(Cursor(value, 3, False).encode(by_order), ordering=by_order)
    by_title = Ordering.by(Column("title", STR), descending=False, tie="number")
    for value in ("a\x00b", "x" * 501, 3):
        with pytest.raises(InvalidCursor):
            Cursor.decode(Cursor(value, 3, False).encode(by_title), ordering=by_title)


def test_a_column_is_one_kind_of_read():
    with pytest.raises(ValueError, match="one of them"):
        Column("status", STR, values=("a",), expression=lambda: None)
    with pytest.raises(ValueError, match="kind"):
        Column("status", "float")
    with pytest.raises(ValueError, match="paginate"):
        Ordering.by(DUE, descending=False, tie="number").order_by()
