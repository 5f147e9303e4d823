"""GitHub (the connector kind; issues and webhooks come with their own issue).

The REST API is https://api.github.com; Test connection asks who the token belongs to."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from ..base import ConnectorKind
from ..choices import AuthScheme


def _describe(response) -> str:
    login = (response.json() or {}).get("login")
    return f"signed in as {login}" if login else ""


KIND = ConnectorKind(
    name="github",
    label=_("GitHub"),
    hosts=("api.github.com",),
    auth_schemes=(AuthScheme.BEARER,),
    test_path="/user",
    describe=_describe,
    example_url="https://api.github.com",
)
