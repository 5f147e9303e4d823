"""The customer agent's endpoints, under /api/v1/connectors/agent/ (included by
apps/connectors/api/urls.py)."""

from django.urls import path

from . import api

urlpatterns = [
    path("poll/", api.AgentPollApi.as_view(), name="agent-poll"),
    path("results/", api.AgentResultsApi.as_view(), name="agent-results"),
]
