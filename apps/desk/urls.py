"""URLs of the agent desk. Mounted by config/urls_tenant.py at ``desk/`` (namespace ``desk``)."""

from django.urls import include, path

from . import connected, triage, views, watching

app_name = "desk"

urlpatterns = [
    path("", views.queue_view, name="queue"),
    path("bulk/", views.bulk_view, name="bulk"),
    path("views/", views.saved_view_create, name="saved-view-create"),
    path("views/<int:view_id>/delete/", views.saved_view_delete, name="saved-view-delete"),
    path("preview/", views.preview_view, name="preview"),
    path("tickets/<int:number>/", views.ticket_view, name="ticket"),
    path("tickets/<int:number>/comment/", views.comment_view, name="comment"),
    path("tickets/<int:number>/transition/", views.transition_view, name="transition"),
    path("tickets/<int:number>/assign/", views.assign_view, name="assign"),
    path("tickets/<int:number>/edit/", views.edit_view, name="edit"),
    path("tickets/<int:number>/suggestion/", views.suggestion_view, name="suggestion"),
    path("tickets/<int:number>/follow/", watching.follow_view, name="follow"),
    path("tickets/<int:number>/mentions/", watching.mentions_view, name="mentions"),
    path("tickets/<int:number>/github/", connected.github_view, name="github"),
    path("tickets/<int:number>/servicenow/<int:writeback_id>/undo/", connected.servicenow_undo_view,
         name="servicenow-undo"),
    path("tickets/<int:number>/attachments/", views.attachment_upload_view, name="attachment-upload"),
    path(
        "tickets/<int:number>/attachments/<int:attachment_id>/",
        views.attachment_download_view,
        name="attachment-download",
    ),
    path("board/", views.board_view, name="board"),
    path("triage/", triage.triage_view, name="triage"),
    path("triage/bulk/", triage.triage_bulk_view, name="triage-bulk"),
    path("triage/<int:proposal_id>/decide/", triage.triage_decide_view, name="triage-decide"),
    path("triage/<int:proposal_id>/edit/", triage.triage_edit_view, name="triage-edit"),
    path("board/move/", views.board_move_view, name="board-move"),
    # SLA: dashboard, "New ticket" and its due-time preview (see sla_urls.py).
    path("", include("apps.desk.sla_urls")),
]
