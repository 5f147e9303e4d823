"""The tickets API v1. Thin: input serializer (shape) -> selector -> service -> output serializer.

Visibility is decided by the selectors (another tenant's or another requester's object
is 404), permission to act by the policies inside the services (403).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.http import FileResponse
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import NotFound
from apps.core.files import UploadRejected
from apps.core.files.limits import LengthRequired

from .. import selectors, services
from ..errors import CooldownActive
from ..extensions import ticket_prefetches
from ..filters import TicketFilterSet
from ..models import Category, Ticket
from . import serializers as s
from .pagination import AttachmentPagination, CommentPagination, NamePagination, TicketPagination
from .schema import IDEMPOTENCY_KEY, TicketsAutoSchema, problems

NUMBER = OpenApiParameter("number", OpenApiTypes.INT, OpenApiParameter.PATH, description="The ticket's number.")
ATTACHMENT_ID = OpenApiParameter("attachment_id", OpenApiTypes.INT, OpenApiParameter.PATH)


class SelectorFilterBackend(DjangoFilterBackend):
    """Documents the FilterSet's parameters; the selector has already applied them."""

    def filter_queryset(self, request, queryset, view):
        return queryset


class TicketsApiView(APIView):
    """Base: cooldowns answer 429 with Retry-After."""

    schema = TicketsAutoSchema()

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, CooldownActive):
            response["Retry-After"] = str(exc.retry_after)
        return response

    def paginated(self, queryset, serializer_class, pagination_class):
        paginator = pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(page, many=True, context={"request": self.request}).data
        return paginator.get_paginated_response(data)


def _ticket_output(request, number: int) -> dict:
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    return s.TicketOutputSerializer(ticket, context={"request": request}).data


# --- Tickets ------------------------------------------------------------------------------


class TicketCollectionApi(TicketsApiView):
    """`GET` lists the tickets you may see; `POST` opens one."""

    queryset = Ticket.objects.none()  # for schema generation only; the selector scopes the data
    filter_backends = [SelectorFilterBackend]
    filterset_class = TicketFilterSet
    pagination_class = TicketPagination

    @extend_schema(
        operation_id="tickets_list",
        responses={200: s.TicketOutputSerializer(many=True), **problems()},
    )
    def get(self, request):
        # With q, each ticket says why it matched (`search`: highlighted title and snippet).
        tickets = selectors.ticket_list(actor=request.user, filters=request.query_params, highlight=True)
        return self.paginated(tickets, s.TicketOutputSerializer, TicketPagination)

    @extend_schema(
        operation_id="tickets_create",
        parameters=[IDEMPOTENCY_KEY],
        request=s.TicketCreateInputSerializer,
        responses={201: s.TicketOutputSerializer, **problems(write=True)},
    )
    def post(self, request):
        data = s.TicketCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.ticket_create(actor=request.user, source="api", **data.validated_data)
        # The service's instance carries its related objects: no need to read it back,
        # only what the registered blocks show (its new SLA clocks), once for each.
        prefetch_related_objects([ticket], *ticket_prefetches())
        return Response(s.TicketOutputSerializer(ticket, context={"request": request}).data, status=status.HTTP_201_CREATED)


class TicketDetailApi(TicketsApiView):
    """`GET` one ticket; `PATCH` its fields (assignee and team go through ticket_assign)."""

    ASSIGN_FIELDS = ("assignee", "team")

    @extend_schema(operation_id="tickets_retrieve", parameters=[NUMBER],
                   responses={200: s.TicketOutputSerializer, **problems()})
    def get(self, request, number: int):
        return Response(_ticket_output(request, number))

    @extend_schema(
        operation_id="tickets_partial_update",
        parameters=[NUMBER, IDEMPOTENCY_KEY],
        request=s.TicketUpdateInputSerializer,
        responses={200: s.TicketOutputSerializer, **problems(write=True)},
    )
    def patch(self, request, number: int):
        data = s.TicketUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        assign = {key: fields.pop(key) for key in self.ASSIGN_FIELDS if key in fields}
        ticket = selectors.ticket_get_visible(actor=request.user, number=number)
        with transaction.atomic():
            if fields:
                ticket = services.ticket_update(actor=request.user, ticket=ticket, **fields)
            if assign:
                ticket = services.ticket_assign(actor=request.user, ticket=ticket, **assign)
        return Response(_ticket_output(request, number))


class TicketTransitionApi(TicketsApiView):
    @extend_schema(
        operation_id="tickets_transition",
        parameters=[NUMBER, IDEMPOTENCY_KEY],
        request=s.TicketTransitionInputSerializer,
        responses={200: s.TicketOutputSerializer, **problems(write=True)},
    )
    def post(self, request, number: int):
        data = s.TicketTransitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = selectors.ticket_get_visible(actor=request.user, number=number)
        services.ticket_transition(actor=request.user, ticket=ticket, **data.validated_data)
        return Response(_ticket_output(request, number))


# --- Comments -----------------------------------------------------------------------------


class TicketCommentCollectionApi(TicketsApiView):
    pagination_class = CommentPagination

    @extend_schema(operation_id="tickets_comments_list", parameters=[NUMBER],
                   responses={200: s.CommentOutputSerializer(many=True), **problems()})
    def get(self, request, number: int):
        ticket = selectors.ticket_get_visible(actor=request.user, number=number)
        comments = selectors.comment_list(actor=request.user, ticket=ticket)
        return self.paginated(comments, s.CommentOutputSerializer, CommentPagination)

    @extend_schema(
        operation_id="tickets_comments_create",
        parameters=[NUMBER, IDEMPOTENCY_KEY],
        request=s.CommentCreateInputSerializer,
        responses={
            201: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="CommentOrFollowUp",
                    serializers=[s.CommentOutputSerializer, s.TicketOutputSerializer],
                    resource_type_field_name=None,
                ),
                description="The comment. When the requester's reply opened a follow-up instead (a reply on a "
                "closed ticket, or on a resolved one when the help desk's setting is \"follow-up\"), the new "
                "ticket, whose `follow_up_of` is this ticket's number, with a `Location` header.",
            ),
            **problems(write=True),
        },
    )
    def post(self, request, number: int):
        data = s.CommentCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = selectors.ticket_get_visible(actor=request.user, number=number)
        outcome = services.reply_add(actor=request.user, ticket=ticket, source="api", **data.validated_data)
        if outcome.follow_up is not None:
            follow_up = outcome.follow_up
            prefetch_related_objects([follow_up], *ticket_prefetches())
            response = Response(s.TicketOutputSerializer(follow_up, context={"request": request}).data,
                                status=status.HTTP_201_CREATED)
            response["Location"] = reverse("tickets:ticket-detail", args=[follow_up.number])
            return response
        return Response(s.CommentOutputSerializer(outcome.comment).data, status=status.HTTP_201_CREATED)


# --- Attachments --------------------------------------------------------------------------


class TicketAttachmentCollectionApi(TicketsApiView):
    pagination_class = AttachmentPagination
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(operation_id="tickets_attachments_list", parameters=[NUMBER],
                   responses={200: s.AttachmentOutputSerializer(many=True), **problems()})
    def get(self, request, number: int):
        ticket = selectors.ticket_get_visible(actor=request.user, number=number)
        attachments = selectors.attachment_list(actor=request.user, ticket=ticket)
        return self.paginated(attachments, s.AttachmentOutputSerializer, AttachmentPagination)

    @extend_schema(
        operation_id="tickets_attachments_create",
        parameters=[NUMBER, IDEMPOTENCY_KEY],
        request={"multipart/form-data": s.AttachmentCreateInputSerializer},
        responses={201: s.AttachmentOutputSerializer, **problems(411, 413, 415, write=True)},
    )
    def post(self, request, number: int):
        if not request.META.get("CONTENT_LENGTH"):
            # Django reads no body without one (a chunked upload would look empty).
            message = "Send the file with a Content-Length header; chunked uploads are not accepted."
            raise LengthRequired(message, errors={"file": [message]})
        # The ticket first: nobody streams a file to a ticket they cannot see.
        ticket = selectors.ticket_get_visible(actor=request.user, number=number)
        try:
            data = s.AttachmentCreateInputSerializer(data=request.data)
        except UploadRejected as refusal:  # refused while it streamed in (apps.core.files.limits)
            services.attachment_refusal_record(actor=request.user, ticket=ticket, refusal=refusal)
            raise
        data.is_valid(raise_exception=True)
        comment = None
        if data.validated_data["comment"] is not None:
            comment = selectors.comment_list(actor=request.user, ticket=ticket).filter(
                pk=data.validated_data["comment"]
            ).first()
            if comment is None:
                raise NotFound("That comment does not exist on this ticket.")
        upload = data.validated_data["file"]
        attachment = services.attachment_add(
            actor=request.user,
            ticket=ticket,
            fileobj=upload,
            filename=upload.name,
            size=upload.size,
            visibility=data.validated_data["visibility"],
            comment=comment,
        )
        return Response(s.AttachmentOutputSerializer(attachment).data, status=status.HTTP_201_CREATED)


class TicketAttachmentLinkApi(TicketsApiView):
    """A signed, short-lived URL for downloading one attachment."""

    @extend_schema(
        operation_id="tickets_attachments_download_link",
        parameters=[NUMBER, ATTACHMENT_ID],
        responses={200: s.DownloadLinkOutputSerializer, **problems(409)},
    )
    def get(self, request, number: int, attachment_id: int):
        ticket = selectors.ticket_get_visible(actor=request.user, number=number)
        attachment = selectors.attachment_get_visible(actor=request.user, ticket=ticket, attachment_id=attachment_id)
        link = services.attachment_download_link(actor=request.user, attachment=attachment)
        url = request.build_absolute_uri(reverse("tickets:attachment-download", kwargs={"token": link.token}))
        return Response(s.DownloadLinkOutputSerializer({"url": url, "expires_at": link.expires_at}).data)


class AttachmentDownloadApi(TicketsApiView):
    """Stream the file a signed link names (only to the user it was issued to)."""

    @extend_schema(
        operation_id="attachments_download",
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
            **problems(409, 500),
        },
    )
    def get(self, request, token: str):
        attachment, handle = services.attachment_download(actor=request.user, token=token)
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=attachment.original_name,
            content_type=_served_type(attachment.content_type),
        )
        response["Content-Length"] = str(attachment.size)
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, no-store"
        return response


SAFE_INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"})


def _served_type(mime: str) -> str:
    return mime if mime in SAFE_INLINE_TYPES else "application/octet-stream"


# --- Categories and teams -----------------------------------------------------------------


class CategoryCollectionApi(TicketsApiView):
    """`GET` the active categories (all with `include_archived=true`); `POST` (admins) adds one."""

    pagination_class = NamePagination
    queryset = Category.objects.none()

    @extend_schema(
        operation_id="categories_list",
        parameters=[OpenApiParameter("include_archived", OpenApiTypes.BOOL, OpenApiParameter.QUERY)],
        responses={200: s.CategoryOutputSerializer(many=True), **problems()},
    )
    def get(self, request):
        include = str(request.query_params.get("include_archived", "")).lower() in ("1", "true", "yes")
        return self.paginated(
            selectors.category_list(include_archived=include), s.CategoryOutputSerializer, NamePagination
        )

    @extend_schema(
        operation_id="categories_create",
        parameters=[IDEMPOTENCY_KEY],
        request=s.CategoryCreateInputSerializer,
        responses={201: s.CategoryOutputSerializer, **problems(write=True)},
    )
    def post(self, request):
        data = s.CategoryCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        category = services.category_create(actor=request.user, **data.validated_data)
        return Response(s.CategoryOutputSerializer(category).data, status=status.HTTP_201_CREATED)


class TeamListApi(TicketsApiView):
    pagination_class = NamePagination

    @extend_schema(operation_id="teams_list", responses={200: s.TeamOutputSerializer(many=True), **problems()})
    def get(self, request):
        return self.paginated(selectors.team_list(), s.TeamOutputSerializer, NamePagination)
