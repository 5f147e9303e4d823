"""API routes of the SLA app, mounted at /api/v1/sla/ by config/urls_tenant.py."""

from django.urls import path

from . import views

app_name = "sla-api"

urlpatterns = [
    path("policies/", views.PolicyCollectionApi.as_view(), name="policy-list"),
    path("policies/<int:pk>/", views.PolicyDetailApi.as_view(), name="policy-detail"),
    path("calendars/", views.CalendarListApi.as_view(), name="calendar-list"),
    path("dashboard/", views.DashboardApi.as_view(), name="dashboard"),
]
