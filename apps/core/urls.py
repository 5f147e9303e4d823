"""Plumbing served on both hosts."""

from django.urls import path
from django_prometheus import exports

from . import health

urlpatterns = [
    path("health/", health.health, name="health"),
    path("ready/", health.ready, name="ready"),
    path("metrics", exports.ExportToDjangoView, name="metrics"),
]
