"""Shapes of the connectors API. The secret is write-only: accepted on input, never in
any output (the output says whether one is set)."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.serializers import InputSerializer

from .. import breaker, selectors
from ..choices import AuthScheme
from ..models import Connector, ConnectorCall, DeadLetter, Route


class ConnectorInputSerializer(InputSerializer):
    kind = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=64)
    base_url = serializers.CharField(max_length=300)
    auth_scheme = serializers.ChoiceField(choices=AuthScheme.choices, default=AuthScheme.BEARER)
    username = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    secret = serializers.CharField(max_length=4000, required=False, allow_blank=True, write_only=True,
                                   trim_whitespace=True, style={"input_type": "password"})
    region = serializers.CharField(max_length=8, required=False)
    dry_run = serializers.BooleanField(default=True)
    daily_write_cap = serializers.IntegerField(min_value=0, default=100)
    enabled = serializers.BooleanField(required=False)
    # customer agent (0024): through which agent an internal system is reached
    route = serializers.ChoiceField(choices=Route.choices, default=Route.DIRECT)
    agent = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                     help_text="The customer agent's id, with route `agent`.")


class ConnectorOutputSerializer(serializers.ModelSerializer):
    secret_set = serializers.SerializerMethodField()
    circuit = serializers.SerializerMethodField()
    writes_today = serializers.SerializerMethodField()

    class Meta:
        model = Connector
        fields = ["id", "kind", "name", "base_url", "auth_scheme", "username", "secret_set", "status",
                  "disabled_reason", "region", "dry_run", "daily_write_cap", "writes_today", "last_sync_at", "health",
                  "health_detail", "health_checked_at", "circuit", "created_at", "updated_at",
                  "route", "agent"]  # customer agent (0024)

    def get_secret_set(self, obj: Connector) -> bool:
        return bool(obj.secret)

    def get_circuit(self, obj: Connector) -> str:
        return "open" if breaker.is_open(obj.pk) else "closed"

    def get_writes_today(self, obj: Connector) -> int:
        return selectors.writes_today(obj)


class TestOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    reached = serializers.CharField()
    detail = serializers.CharField()
    code = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)


class CallOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConnectorCall
        fields = ["id", "at", "operation", "method", "path", "write", "outcome", "status_code", "attempts",
                  "duration_ms", "address", "detail"]


class DeadLetterOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeadLetter
        fields = ["id", "created_at", "operation", "method", "path", "idempotency_key", "attempts", "last_error",
                  "status", "resolved_at", "resolved_by"]
