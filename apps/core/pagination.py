"""The API's pagination: keyset pages (`apps.core.keyset`) as CONTRACT.md says,
`{"next": url|null, "previous": url|null, "results": [...]}`.

It keeps the `cursor` and `page_size` parameters of DRF's CursorPagination (whose
page-size rules and OpenAPI description are inherited); only how a page is cut and what
a cursor is differ. A bad cursor is 400 with `errors.cursor` (`keyset.InvalidCursor`).
"""

from __future__ import annotations

from rest_framework.pagination import CursorPagination as DRFCursorPagination
from rest_framework.utils.urls import replace_query_param

from . import keyset


class CursorPagination(DRFCursorPagination):
    """The default of every API list (REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]).

    `ordering`: a model field then the tie-breaker `tie` (`("name", "pk")`), or the
    tie-breaker alone (`("-pk",)`). A list whose ordering depends on the request
    overrides `get_keyset_ordering()`.
    """

    ordering: str | tuple[str, ...] = ("-pk",)
    tie = "pk"
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_keyset_ordering(self, request, queryset, view) -> keyset.Ordering:
        return keyset.Ordering.parse(self.ordering, tie=self.tie, model=queryset.model)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        if not self.page_size:
            return None
        self.base_url = request.build_absolute_uri()
        self.keyset_ordering = self.get_keyset_ordering(request, queryset, view)
        self.page = keyset.paginate(queryset, ordering=self.keyset_ordering,
                                    cursor=request.query_params.get(self.cursor_query_param), size=self.page_size)
        return self.page.rows

    def _link(self, token: str | None) -> str | None:
        if token is None:
            return None
        return replace_query_param(self.base_url, self.cursor_query_param, token)

    def get_next_link(self) -> str | None:
        return self._link(self.page.next_cursor)

    def get_previous_link(self) -> str | None:
        return self._link(self.page.previous_cursor)
