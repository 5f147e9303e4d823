from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from apps.accounts.services import token_issue, token_second_factor_check
from apps.core.errors import ApplicationError
from apps.core.serializers import InputSerializer as StrictInputSerializer


class LoginThrottle(AnonRateThrottle):
    scope = "login"
    rate = "20/min"


class AuthTokenApi(APIView):
    """Exchange email and password (and a TOTP code, for those who need one) for this
    tenant's API token.

    `otp` is required from anyone who has an authenticator app, and from every admin
    of a tenant that requires two-factor authentication for admins: a token must not
    be easier to get than a browser session.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginThrottle]

    class InputSerializer(StrictInputSerializer):
        email = serializers.EmailField()
        password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
        otp = serializers.CharField(
            required=False, allow_blank=True, max_length=16,
            help_text="The current code of the user's authenticator app (TOTP), when they have one.",
        )

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, auth=[])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, email=data.validated_data["email"], password=data.validated_data["password"])
        if user is None or not user.is_active:
            raise ApplicationError(_("Email or password is wrong."), status=400)
        token_second_factor_check(
            user=user, tenant=request.tenant, code=data.validated_data.get("otp", ""), client=_client(request)
        )
        token = token_issue(user=user)
        # A credential: never cached, and never kept for Idempotency-Key replays.
        return Response(self.OutputSerializer({"token": token.key}).data, headers={"Cache-Control": "no-store"})


def _client(request) -> dict:
    return {"ip": request.META.get("REMOTE_ADDR", ""), "user_agent": request.headers.get("User-Agent", "")[:200]}
