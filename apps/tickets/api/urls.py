"""Routes of the tickets API, included under /api/v1/ by config/urls_tenant.py.

Every route here needs a case in tests/api/test_permission_matrix.py (the suite
fails otherwise)."""

from django.urls import path

from . import views

app_name = "tickets"

urlpatterns = [
    path("tickets/", views.TicketCollectionApi.as_view(), name="ticket-list"),
    path("tickets/<int:number>/", views.TicketDetailApi.as_view(), name="ticket-detail"),
    path("tickets/<int:number>/transition/", views.TicketTransitionApi.as_view(), name="ticket-transition"),
    path("tickets/<int:number>/comments/", views.TicketCommentCollectionApi.as_view(), name="ticket-comments"),
    path(
        "tickets/<int:number>/attachments/",
        views.TicketAttachmentCollectionApi.as_view(),
        name="ticket-attachments",
    ),
    path(
        "tickets/<int:number>/attachments/<int:attachment_id>/download/",
        views.TicketAttachmentLinkApi.as_view(),
        name="ticket-attachment-link",
    ),
    path("attachments/download/<str:token>/", views.AttachmentDownloadApi.as_view(), name="attachment-download"),
    path("categories/", views.CategoryCollectionApi.as_view(), name="category-list"),
    path("teams/", views.TeamListApi.as_view(), name="team-list"),
]
