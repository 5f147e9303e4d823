"""Included by the tenant URLconf under `api/v1/audit/`."""

from django.urls import path

from .views import AuditEventListApi

app_name = "audit"

urlpatterns = [
    path("events/", AuditEventListApi.as_view(), name="event-list"),
]
