"""The notifications API: the caller's own notifications, marking them read, and their
preferences (CONTRACT.md: `notifications/`, `notifications/read/`,
`notifications/preferences/`). Thin: selectors and services do the work."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.pagination import CursorPagination

from .. import render, selectors
from ..forms import kinds_for
from ..kinds import Channel
from ..models import Profile
from ..services.inbox import notifications_mark_read
from ..services.preferences import preferences_set
from . import serializers as s


class NotificationPagination(CursorPagination):
    ordering = ("-pk",)


class NotificationListApi(APIView):
    @extend_schema(
        operation_id="notifications_list",
        parameters=[OpenApiParameter("unread", OpenApiTypes.BOOL, description="Only unread ones."),
                    OpenApiParameter("kind", OpenApiTypes.STR, description="One kind.")],
        responses={200: s.NotificationOutputSerializer(many=True)},
    )
    def get(self, request):
        unread = request.query_params.get("unread", "").lower() in ("1", "true", "yes")
        queryset = selectors.notification_list(user=request.user, unread=unread,
                                               kind=request.query_params.get("kind") or None)
        paginator = NotificationPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        items = render.items(list(page), request.user)
        return paginator.get_paginated_response(s.NotificationOutputSerializer(items, many=True).data)


class NotificationReadApi(APIView):
    @extend_schema(operation_id="notifications_read", request=s.ReadInputSerializer,
                   responses={200: s.ReadOutputSerializer})
    def post(self, request):
        data = s.ReadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        marked = notifications_mark_read(actor=request.user, ids=data.validated_data.get("ids") or [],
                                         everything=data.validated_data["all"])
        return Response({"marked": marked, "unread": selectors.unread_count(user=request.user)})


def _preferences(user) -> dict:
    profile = Profile.objects.filter(user=user).first() or Profile(user=user)
    channels = {}
    for kind in kinds_for(user):
        on = selectors.channels_for([user], kind.value)[user.pk]
        for channel in Channel:
            channels[f"{kind.value}.{channel.value}"] = channel.value in on
    return {"channels": channels, "email_digest": profile.email_digest, "quiet_from": profile.quiet_from,
            "quiet_until": profile.quiet_until}


class PreferencesApi(APIView):
    @extend_schema(operation_id="notifications_preferences_retrieve", responses={200: s.PreferencesSerializer})
    def get(self, request):
        return Response(s.PreferencesSerializer(_preferences(request.user)).data)

    @extend_schema(operation_id="notifications_preferences_update", request=s.PreferencesSerializer,
                   responses={200: s.PreferencesSerializer})
    def patch(self, request):
        data = s.PreferencesSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        quiet = {}
        if "quiet_from" in values or "quiet_until" in values:
            quiet = {"quiet_from": values.get("quiet_from"), "quiet_until": values.get("quiet_until")}
        preferences_set(actor=request.user, user=request.user, channels=values.get("channels"),
                        email_digest=values.get("email_digest"), **quiet)
        return Response(s.PreferencesSerializer(_preferences(request.user)).data)

    put = patch
