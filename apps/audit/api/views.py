from rest_framework.generics import ListAPIView

from apps.accounts.permissions import IsTenantAdmin
from apps.core.pagination import CursorPagination

from ..filters import AuditEventFilterSet
from ..selectors import audit_event_list
from .serializers import AuditEventOutputSerializer


class AuditEventPagination(CursorPagination):
    ordering = ("-seq",)
    tie = "seq"


class AuditEventListApi(ListAPIView):
    """The tenant's audit events, newest first. Tenant admins only."""

    permission_classes = [IsTenantAdmin]
    serializer_class = AuditEventOutputSerializer
    filterset_class = AuditEventFilterSet
    pagination_class = AuditEventPagination

    def get_queryset(self):
        return audit_event_list()
