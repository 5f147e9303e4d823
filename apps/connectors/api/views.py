"""The connectors API v1 (/api/v1/connectors/; CONTRACT.md): tenant admins only (others
get 403), secrets write-only. Thin: input serializer -> service -> output serializer."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsTenantAdmin
from apps.core.errors import NotFound
from apps.core.pagination import CursorPagination
from apps.core.serializers import NoInputSerializer

from .. import selectors
from ..models import Connector, DeadLetter
from ..services import connectors as services
from ..services import operations
from . import serializers as s

ACCESS = "Tenant admins only; policy actions `connector.configure` (changes) and `connector.operate` (test, retry)."


class NamePagination(CursorPagination):
    ordering = ("name", "pk")


class RecentPagination(CursorPagination):
    ordering = ("-pk",)


def _connector(pk: int) -> Connector:
    connector = selectors.connector_get(pk=pk)
    if connector is None:
        raise NotFound(_("There is no connector %(id)s.") % {"id": pk})
    return connector


class ConnectorCollectionApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(operation_id="connectors_list", description=ACCESS,
                   responses=s.ConnectorOutputSerializer(many=True))
    def get(self, request):
        paginator = NamePagination()
        page = paginator.paginate_queryset(selectors.connector_list(), request, view=self)
        return paginator.get_paginated_response(s.ConnectorOutputSerializer(page, many=True).data)

    @extend_schema(operation_id="connectors_create", description=ACCESS, request=s.ConnectorInputSerializer,
                   responses={201: s.ConnectorOutputSerializer})
    def post(self, request):
        data = s.ConnectorInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        enabled = values.pop("enabled", True)
        connector = services.connector_create(actor=request.user, **values)
        if not enabled:
            connector = services.connector_update(actor=request.user, connector=connector, enabled=False)
        return Response(s.ConnectorOutputSerializer(connector).data, status=status.HTTP_201_CREATED)


class ConnectorDetailApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(operation_id="connectors_retrieve", description=ACCESS, responses=s.ConnectorOutputSerializer)
    def get(self, request, pk: int):
        return Response(s.ConnectorOutputSerializer(_connector(pk)).data)

    @extend_schema(operation_id="connectors_partial_update", description=ACCESS + " `kind` cannot change.",
                   request=s.ConnectorInputSerializer, responses=s.ConnectorOutputSerializer)
    def patch(self, request, pk: int):
        connector = _connector(pk)
        data = s.ConnectorInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = {k: v for k, v in data.validated_data.items() if k in request.data}
        values.pop("kind", None)
        connector = services.connector_update(actor=request.user, connector=connector, **values)
        return Response(s.ConnectorOutputSerializer(connector).data)

    @extend_schema(operation_id="connectors_destroy", description=ACCESS, responses={204: None})
    def delete(self, request, pk: int):
        services.connector_delete(actor=request.user, connector=_connector(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectorTestApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(operation_id="connectors_test", description="Test connection: what was reached. " + ACCESS,
                   request=None, responses=s.TestOutputSerializer)
    def post(self, request, pk: int):
        NoInputSerializer(data=request.data).is_valid(raise_exception=True)
        outcome = operations.connector_test(actor=request.user, connector=_connector(pk))
        return Response(s.TestOutputSerializer(outcome).data)


class ConnectorCallListApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(operation_id="connectors_calls_list", description="Recent calls. " + ACCESS,
                   responses=s.CallOutputSerializer(many=True))
    def get(self, request, pk: int):
        paginator = RecentPagination()
        page = paginator.paginate_queryset(_connector(pk).calls.all(), request, view=self)
        return paginator.get_paginated_response(s.CallOutputSerializer(page, many=True).data)


class DeadLetterListApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(operation_id="connectors_dead_letters_list", description="Writes that finally failed. " + ACCESS,
                   responses=s.DeadLetterOutputSerializer(many=True))
    def get(self, request, pk: int):
        paginator = RecentPagination()
        page = paginator.paginate_queryset(_connector(pk).dead_letters.all(), request, view=self)
        return paginator.get_paginated_response(s.DeadLetterOutputSerializer(page, many=True).data)


class DeadLetterRetryApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(operation_id="connectors_dead_letters_retry", description="Send it again. " + ACCESS,
                   request=None, responses=s.DeadLetterOutputSerializer)
    def post(self, request, pk: int, dead_letter_id: int):
        NoInputSerializer(data=request.data).is_valid(raise_exception=True)
        dead_letter = DeadLetter.objects.filter(pk=dead_letter_id, connector_id=_connector(pk).pk).first()
        if dead_letter is None:
            raise NotFound(_("There is no dead letter %(id)s.") % {"id": dead_letter_id})
        operations.dead_letter_retry(actor=request.user, dead_letter=dead_letter)
        return Response(s.DeadLetterOutputSerializer(dead_letter).data)
