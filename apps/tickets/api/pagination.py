"""Cursor pagination of the tickets API lists, by keyset (`apps.tickets.keyset`).

The answer keeps CONTRACT's shape, `{"next", "previous", "results"}`, and the `cursor`
and `page_size` parameters of DRF's CursorPagination (whose settings, page-size rules
and OpenAPI description are inherited); only how a page is cut differs.
"""

from __future__ import annotations

from rest_framework.utils.urls import replace_query_param

from apps.core.pagination import CursorPagination

from .. import keyset
from ..filters import ticket_ordering


class KeysetPagination(CursorPagination):
    ordering: tuple[str, ...] = ("-pk",)
    tie = "pk"
    # Columns with a few fixed values, read grouped: field -> values in ascending order.
    grouped: dict[str, tuple[str, ...]] = {}

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        return tuple(self.ordering)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.key = keyset.SortKey.parse(self.get_ordering(request, queryset, view), tie=self.tie)
        cursor = keyset.Cursor.decode(
            request.query_params.get(self.cursor_query_param), key=self.key, model=queryset.model
        )
        self.page = keyset.page(
            queryset, key=self.key, cursor=cursor, size=self.page_size, values=self.grouped.get(self.key.field or "")
        )
        return self.page.rows

    def _link(self, cursor: keyset.Cursor | None) -> str | None:
        if cursor is None:
            return None
        return replace_query_param(self.base_url, self.cursor_query_param, cursor.encode(self.key))

    def get_next_link(self) -> str | None:
        return self._link(self.page.next_cursor)

    def get_previous_link(self) -> str | None:
        return self._link(self.page.previous_cursor)


def _choice_values(field_name: str) -> tuple[str, ...]:
    from ..models import Ticket

    return tuple(sorted(value for value, _label in Ticket._meta.get_field(field_name).choices))


class TicketPagination(KeysetPagination):
    """Tickets by the `ordering` parameter (validated by the FilterSet), ties by number.

    Status and priority sort by their stored values (`cancelled` < `closed` < `new` ...;
    `P1` < `P2` ...), like the database sorts them, read grouped.
    """

    ordering = ticket_ordering(None)
    tie = "number"
    grouped = {"status": _choice_values("status"), "priority": _choice_values("priority")}

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        return ticket_ordering(request.query_params.get("ordering"))


class CommentPagination(KeysetPagination):
    ordering = ("created_at", "pk")


class AttachmentPagination(KeysetPagination):
    ordering = ("created_at", "pk")


class NamePagination(KeysetPagination):
    ordering = ("name", "pk")
