"""The SLA API v1 (/api/v1/sla/). Thin: input serializer (shape) -> service -> output.

Agents and admins read policies, calendars and the dashboard; only tenant admins
write (create, replace, change, delete), and the services ask the policies
(`sla.configure`) as well. Requesters get 403 everywhere here: SLA configuration is
internal, a requester sees the due time of their own tickets only (tickets API).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsAgent, IsTenantAdmin
from apps.core.errors import NotFound
from apps.core.pagination import CursorPagination

from .. import selectors, services
from ..models import SlaPolicy
from . import serializers as s


class OrderPagination(CursorPagination):
    ordering = ("order", "pk")


class NamePagination(CursorPagination):
    ordering = ("name", "pk")


READ_ACCESS = "Agents and tenant admins; requesters get 403."
WRITE_ACCESS = "Tenant admins only (agents and requesters get 403); policy action `sla.configure`."


def _write_permissions(view) -> list:
    return [IsTenantAdmin()] if view.request.method not in ("GET", "HEAD", "OPTIONS") else [IsAgent()]


def _policy(pk: int) -> SlaPolicy:
    policy = selectors.policy_list().filter(pk=pk).first()
    if policy is None:
        raise NotFound(_("There is no SLA policy %(id)s.") % {"id": pk})
    return policy


class PolicyCollectionApi(APIView):
    def get_permissions(self):
        return _write_permissions(self)

    @extend_schema(
        operation_id="sla_policies_list",
        description=f"The tenant's SLA policies in the order they are tried. {READ_ACCESS}",
        responses=s.PolicyOutputSerializer(many=True),
    )
    def get(self, request):
        paginator = OrderPagination()
        page = paginator.paginate_queryset(selectors.policy_list(), request, view=self)
        return paginator.get_paginated_response(s.PolicyOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="sla_policies_create",
        description=f"Create a policy; open tickets it now matches are re-targeted after commit. {WRITE_ACCESS}",
        request=s.PolicyInputSerializer,
        responses={201: s.PolicyOutputSerializer},
    )
    def post(self, request):
        data = s.PolicyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.sla_policy_save(actor=request.user, data=services.policy_input_from_data(data.validated_data))
        return Response(s.PolicyOutputSerializer(_policy(policy.pk)).data, status=status.HTTP_201_CREATED)


class PolicyDetailApi(APIView):
    def get_permissions(self):
        return _write_permissions(self)

    @extend_schema(operation_id="sla_policies_retrieve", description=READ_ACCESS, responses=s.PolicyOutputSerializer)
    def get(self, request, pk: int):
        return Response(s.PolicyOutputSerializer(_policy(pk)).data)

    @extend_schema(
        operation_id="sla_policies_update",
        description=f"Replace a policy; its open clocks are re-targeted after commit. {WRITE_ACCESS}",
        request=s.PolicyInputSerializer,
        responses=s.PolicyOutputSerializer,
    )
    def put(self, request, pk: int):
        return self._save(request, pk, s.PolicyInputSerializer, partial=False)

    @extend_schema(
        operation_id="sla_policies_partial_update",
        description=f"Change some fields of a policy (the others keep their stored value). {WRITE_ACCESS}",
        request=s.PolicyPatchSerializer,
        responses=s.PolicyOutputSerializer,
    )
    def patch(self, request, pk: int):
        return self._save(request, pk, s.PolicyPatchSerializer, partial=True)

    @extend_schema(
        operation_id="sla_policies_destroy",
        description=(
            "Delete a policy. Its clocks keep their deadlines and events; their open tickets are re-matched "
            f"against the remaining policies after commit. {WRITE_ACCESS}"
        ),
        responses={204: None},
    )
    def delete(self, request, pk: int):
        services.sla_policy_delete(actor=request.user, policy=_policy(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _save(self, request, pk: int, serializer_class, *, partial: bool):
        policy = _policy(pk)
        data = serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        payload = services.policy_input_from_data(data.validated_data, base=policy if partial else None)
        services.sla_policy_save(actor=request.user, data=payload, policy=policy)
        return Response(s.PolicyOutputSerializer(_policy(pk)).data)


class CalendarListApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="sla_calendars_list",
        description=f"Business-hours calendars (edited in Django admin). {READ_ACCESS}",
        responses=s.CalendarOutputSerializer(many=True),
    )
    def get(self, request):
        paginator = NamePagination()
        page = paginator.paginate_queryset(selectors.calendar_list(), request, view=self)
        return paginator.get_paginated_response(s.CalendarOutputSerializer(page, many=True).data)


class DashboardApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="sla_dashboard",
        description=f"Open tickets per team by their most urgent SLA state. {READ_ACCESS}",
        responses=s.DashboardRowSerializer(many=True),
    )
    def get(self, request):
        return Response({"results": selectors.sla_dashboard_by_team()})
