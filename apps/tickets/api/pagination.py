"""The orderings of the tickets API lists; the paginator is `apps.core.pagination`'s."""

from __future__ import annotations

from apps.core.pagination import CursorPagination

from ..keyset import TIE, ticket_ordering
from ..search import is_ranked


class TicketPagination(CursorPagination):
    """Tickets by the `ordering` parameter (validated by the FilterSet), ties by number.

    Status sorts in workflow order, priority from P1 to P4 (`apps.tickets.keyset`); a
    search (`q`) by relevance unless an ordering is given.
    """

    tie = TIE

    def get_keyset_ordering(self, request, queryset, view):
        searched = request.query_params.get("q", "") if is_ranked(queryset) else None
        return ticket_ordering(request.query_params.get("ordering"), search_text=searched)


class CommentPagination(CursorPagination):
    ordering = ("created_at", "pk")


class AttachmentPagination(CursorPagination):
    ordering = ("created_at", "pk")


class NamePagination(CursorPagination):
    ordering = ("name", "pk")

