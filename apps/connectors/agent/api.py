"""The customer agent's endpoints (tenant host; docs/api.md, "Customer agent"):

* `POST /api/v1/connectors/agent/poll/` `{"wait": seconds, "max": n}`: the calls queued
  for this agent, claimed under a lease; waits up to `wait` seconds (at most
  WARDEN_CONNECTORS_AGENT_POLL_SECONDS, 20 by default) for one to come, then answers
  `{"calls": []}`.
* `POST /api/v1/connectors/agent/results/` `{"results": [...]}`: the answers (or the
  errors) of the calls it holds; a result for a call it no longer holds is `stale`.

Authenticated by `Authorization: Bearer <agent token>` only (no user token, no session):
an unknown, malformed or revoked token is 401 problem details and nothing else. Each
authenticated request records the agent's last contact, address and version
(`Warden-Agent-Version`). The token is looked up in the host's tenant schema, so an
agent only ever sees its own tenant's calls, and of those only the ones queued for it.

A waiting poll holds one sync web worker for up to 20 s (docs/connectors.md).
"""

from __future__ import annotations

import base64
import binascii

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.serializers import InputSerializer, StrictFieldsMixin
from apps.core.throttling import ApiRateThrottle, client_ip

from . import conf, services
from .models import AgentCall, ConnectorAgent

VERSION_HEADER = "Warden-Agent-Version"
ACCESS = "Customer agents only: `Authorization: Bearer <agent token>`; any other credential is 401."


class AgentTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <agent token>`: `request.auth` is the ConnectorAgent."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        agent = services.agent_authenticate(token=token.strip())
        if agent is None:
            raise exceptions.AuthenticationFailed(_("The agent token is unknown or revoked."))
        services.agent_record_contact(agent=agent, version=request.META.get("HTTP_WARDEN_AGENT_VERSION", ""),
                                      address=client_ip(request))
        return AnonymousUser(), agent

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="warden-agent"'


class AgentTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.connectors.agent.api.AgentTokenAuthentication"
    name = "agentToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A customer agent's token (shown once when the "
                "agent is registered in the admin)."}


class IsConnectorAgent(BasePermission):
    message = _("Authenticate with the agent's token: Authorization: Bearer <token>.")

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ConnectorAgent)


class AgentRateThrottle(ApiRateThrottle):
    """Each agent counted like one user (the `user` rate)."""

    scope = "user"

    def identify(self, request) -> str | None:
        return f"agent:{request.auth.pk}" if isinstance(request.auth, ConnectorAgent) else None


class _AgentApi(APIView):
    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [IsConnectorAgent]
    throttle_classes = [AgentRateThrottle]


# -- poll -------------------------------------------------------------------------------


class AgentPollInputSerializer(InputSerializer):
    wait = serializers.IntegerField(min_value=0, max_value=60, default=20,
                                    help_text="Seconds to wait for a call (capped by the server, 20 by default).")
    max = serializers.IntegerField(min_value=1, max_value=100, default=1, help_text="Calls wanted (capped at 10).")


class AgentCallOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    claim = serializers.IntegerField(help_text="Send it back with the result.")
    method = serializers.CharField()
    url = serializers.CharField()
    headers = serializers.DictField(child=serializers.CharField())
    body = serializers.CharField(allow_null=True, help_text="Base64, or null.")
    connect_timeout = serializers.FloatField()
    read_timeout = serializers.FloatField()
    lease_seconds = serializers.FloatField()


class AgentPollOutputSerializer(serializers.Serializer):
    calls = AgentCallOutputSerializer(many=True)


def _call_out(call: AgentCall, *, connect: float, read: float, lease: float) -> dict:
    body = bytes(call.body) if call.body is not None else None
    return {"id": call.pk, "claim": call.claims, "method": call.method, "url": call.url,
            "headers": {str(k): str(v) for k, v in (call.headers or {}).items()},
            "body": base64.b64encode(body).decode("ascii") if body is not None else None,
            "connect_timeout": connect, "read_timeout": read, "lease_seconds": lease}


class AgentPollApi(_AgentApi):
    @extend_schema(operation_id="connectors_agent_poll", description="Long poll for queued calls. " + ACCESS,
                   request=AgentPollInputSerializer, responses=AgentPollOutputSerializer, auth=[{"agentToken": []}])
    def post(self, request):
        data = AgentPollInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        calls = services.calls_claim(agent=request.auth, limit=data.validated_data["max"],
                                     wait_seconds=data.validated_data["wait"])
        connect, read = services.agent_timeouts()
        lease = conf.seconds("WARDEN_CONNECTORS_AGENT_LEASE_SECONDS")
        return Response({"calls": [_call_out(c, connect=connect, read=read, lease=lease) for c in calls]})


# -- results ----------------------------------------------------------------------------


class AgentErrorInputSerializer(StrictFieldsMixin, serializers.Serializer):
    code = serializers.CharField(max_length=40)
    message = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AgentResultInputSerializer(StrictFieldsMixin, serializers.Serializer):
    id = serializers.IntegerField(min_value=1)
    claim = serializers.IntegerField(min_value=1)
    status = serializers.IntegerField(min_value=100, max_value=599, required=False)
    headers = serializers.DictField(child=serializers.CharField(max_length=8000, allow_blank=True), required=False,
                                    default=dict)
    body = serializers.CharField(required=False, allow_blank=True, allow_null=True, trim_whitespace=False,
                                 help_text="Base64.")
    error = AgentErrorInputSerializer(required=False)

    def validate_headers(self, value: dict) -> dict:
        if len(value) > 200:
            raise serializers.ValidationError(_("Too many headers."))
        return value

    def validate_body(self, value):
        if value in (None, ""):
            return b"" if value == "" else None
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError(_("Not valid base64.")) from None

    def validate(self, attrs):
        if "error" not in attrs and "status" not in attrs:
            raise serializers.ValidationError(_("A result has a status or an error."))
        return attrs


class AgentResultsInputSerializer(InputSerializer):
    results = AgentResultInputSerializer(many=True, allow_empty=True)

    def validate_results(self, value):
        if len(value) > int(conf.get("WARDEN_CONNECTORS_AGENT_BATCH")):
            raise serializers.ValidationError(_("Too many results in one request."))
        return value


class AgentResultsOutputSerializer(serializers.Serializer):
    accepted = serializers.ListField(child=serializers.IntegerField())
    stale = serializers.ListField(child=serializers.IntegerField(),
                                  help_text="Calls this agent no longer holds: their results were ignored.")


class AgentResultsApi(_AgentApi):
    @extend_schema(operation_id="connectors_agent_results", description="Answers of claimed calls. " + ACCESS,
                   request=AgentResultsInputSerializer, responses=AgentResultsOutputSerializer, auth=[{"agentToken": []}])
    def post(self, request):
        data = AgentResultsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        results = [
            services.AgentResult(
                call_id=item["id"], claim=item["claim"], status_code=item.get("status"),
                headers=item.get("headers") or {}, body=item.get("body"),
                error_code=(item.get("error") or {}).get("code", ""),
                error_message=(item.get("error") or {}).get("message", ""),
            )
            for item in data.validated_data["results"]
        ]
        accepted, stale = services.results_store(agent=request.auth, results=results)
        return Response({"accepted": accepted, "stale": stale})
