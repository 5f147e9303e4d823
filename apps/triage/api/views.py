"""The triage API (CONTRACT.md: `triage/proposals/` and `POST triage/proposals/{id}/decision/`).
Agents and admins; thin: selectors read, services decide."""

from __future__ import annotations

from django.db.models import ObjectDoesNotExist
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsAgent
from apps.core.errors import ApplicationError, NotFound
from apps.core.pagination import CursorPagination

from .. import selectors
from ..choices import Channel, ProposalStatus
from ..services import proposal_decide
from . import serializers as s


class ProposalPagination(CursorPagination):
    ordering = ("-created_at", "-pk")


def _get(pk: int):
    proposal = selectors.proposal_get(proposal_id=pk)
    if proposal is None:
        raise NotFound("This proposal does not exist.")
    return proposal


def _data(proposal) -> dict:
    try:
        proposal.decision  # noqa: B018 - loaded or absent
    except ObjectDoesNotExist:
        proposal.decision = None
    return s.ProposalOutputSerializer(proposal).data


class ProposalListApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="triage_proposals_list",
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=ProposalStatus.values,
                                     description="Only proposals in this status (e.g. pending: the queue)."),
                    OpenApiParameter("ticket", OpenApiTypes.INT, description="Only the proposals of this ticket number.")],
        responses={200: s.ProposalOutputSerializer(many=True)},
    )
    def get(self, request):
        status = request.query_params.get("status") or None
        if status is not None and status not in ProposalStatus.values:
            raise ApplicationError(f"status must be one of: {', '.join(ProposalStatus.values)}",
                                   errors={"status": ["Unknown status."]})
        queryset = selectors.proposal_list(status=status)
        number = request.query_params.get("ticket")
        if number:
            queryset = queryset.filter(ticket__number=number) if number.isdigit() else queryset.none()
        paginator = ProposalPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([_data(p) for p in page])


class ProposalDetailApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(operation_id="triage_proposals_retrieve", responses={200: s.ProposalOutputSerializer})
    def get(self, request, pk: int):
        return Response(_data(_get(pk)))


class ProposalDecisionApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(operation_id="triage_proposals_decision", request=s.DecisionInputSerializer,
                   responses={200: s.ProposalOutputSerializer})
    def post(self, request, pk: int):
        _get(pk)
        data = s.DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        proposal_decide(actor=request.user, proposal_id=pk, verdict=values["decision"], version=values["version"],
                        reason=values.get("reason", ""), changes=values.get("changes"), channel=Channel.API)
        return Response(_data(_get(pk)))
