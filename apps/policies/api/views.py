"""Policies API: simulate a draft, read the version history. Tenant admins only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsTenantAdmin
from apps.core.errors import NotFound
from apps.core.serializers import InputSerializer as StrictInputSerializer

from .. import selectors
from ..services import policy_simulation_run
from ..simulation import MAX_DAYS
from .serializers import PolicyVersionOutputSerializer


class PolicySimulateApi(APIView):
    """Replay the last `days` days of recorded decisions through draft rules."""

    permission_classes = [IsTenantAdmin]

    @extend_schema_serializer(component_name="PolicySimulateInput")
    class InputSerializer(StrictInputSerializer):
        rules = serializers.ListField(child=serializers.JSONField(), allow_empty=True)
        days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, default=7)

    @extend_schema(
        request=InputSerializer,
        responses={200: OpenApiResponse(description="SimulationResult: counts, flips, unknowns")},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = policy_simulation_run(
            actor=request.user, draft_rules=data.validated_data["rules"], days=data.validated_data["days"], via="api"
        )
        return Response(result.as_dict())


class _CurrentVersionMixin:
    def get_serializer_context(self):
        context = super().get_serializer_context()  # type: ignore[misc]
        policy_set = selectors.policy_set_get()
        context["current_version_id"] = policy_set.current_version_id if policy_set else None
        return context


class PolicyVersionListApi(_CurrentVersionMixin, generics.ListAPIView):
    """Every version of the tenant's rules, newest first."""

    permission_classes = [IsTenantAdmin]
    serializer_class = PolicyVersionOutputSerializer
    filter_backends: list = []

    def get_queryset(self):
        return selectors.policy_version_list()


class PolicyVersionDetailApi(_CurrentVersionMixin, generics.GenericAPIView):
    permission_classes = [IsTenantAdmin]
    serializer_class = PolicyVersionOutputSerializer

    @extend_schema(responses={200: PolicyVersionOutputSerializer})
    def get(self, request: Request, number: int) -> Response:
        version = selectors.policy_version_get(number=number)
        if version is None:
            raise NotFound(f"There is no policy version {number}.")
        return Response(self.get_serializer(version).data)
