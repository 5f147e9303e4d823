from rest_framework.pagination import CursorPagination as DRFCursorPagination


class CursorPagination(DRFCursorPagination):
    """`{"next", "previous", "results"}` as CONTRACT.md says."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 100
