"""The desk's SLA routes, included by `urls.py` (same ``desk`` namespace).

Their role matrix is `tests/ui/test_sla_ui.py` (`SLA_ROUTES`), which also checks that
every route here has a case.
"""

from django.urls import path

from . import sla_views

urlpatterns = [
    path("dashboard/", sla_views.dashboard_view, name="dashboard"),
    path("tickets/new/", sla_views.ticket_new_view, name="ticket-new"),
    path("sla-preview/", sla_views.sla_preview_view, name="sla-preview"),
]
