"""Shapes of the notifications API (shape only: the rules live in the services)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import serializers

from apps.core.serializers import InputSerializer

from ..kinds import Channel, Kind
from ..models import Digest


class NotificationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="notification.pk", read_only=True)
    kind = serializers.ChoiceField(source="notification.kind", choices=Kind.choices, read_only=True)
    headline = serializers.CharField(read_only=True)
    excerpt = serializers.CharField(read_only=True)
    ticket = serializers.IntegerField(source="notification.ticket.number", read_only=True, allow_null=True)
    url = serializers.CharField(read_only=True)
    actor = serializers.EmailField(source="notification.actor.email", read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(source="notification.created_at", read_only=True)
    read_at = serializers.DateTimeField(source="notification.read_at", read_only=True, allow_null=True)


class ReadInputSerializer(InputSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, data):
        if not data.get("all") and not data.get("ids"):
            raise serializers.ValidationError({"ids": [_('Give the ids to mark read, or "all": true.')]})
        return data


class ReadOutputSerializer(serializers.Serializer):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class PreferencesSerializer(InputSerializer):
    """A person's preferences: `channels` maps "<kind>.<channel>" to on/off (all of them
    in answers; only those to change in a write)."""

    channels = serializers.DictField(child=serializers.BooleanField(), required=False,
                                     help_text='e.g. {"public_reply.email": false}; kinds: '
                                     + ", ".join(Kind.values) + "; channels: " + ", ".join(Channel.values))
    email_digest = serializers.ChoiceField(choices=Digest.choices, required=False)
    quiet_from = serializers.TimeField(required=False, allow_null=True)
    quiet_until = serializers.TimeField(required=False, allow_null=True)
