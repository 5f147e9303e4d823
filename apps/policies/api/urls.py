"""Included by the tenant URLconf under /api/v1/policies/."""

from django.urls import path

from .views import PolicySimulateApi, PolicyVersionDetailApi, PolicyVersionListApi

app_name = "policies"

urlpatterns = [
    path("simulate/", PolicySimulateApi.as_view(), name="simulate"),
    path("versions/", PolicyVersionListApi.as_view(), name="version-list"),
    path("versions/<int:number>/", PolicyVersionDetailApi.as_view(), name="version-detail"),
]
