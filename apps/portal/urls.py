"""URLs of the requester portal. Mounted by config/urls_tenant.py at ``portal/`` (namespace ``portal``)."""

from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.ticket_list, name="list"),
    path("new/", views.ticket_new, name="new"),
    path("new/due/", views.ticket_new_due, name="new-due"),
    path("tickets/<int:number>/", views.ticket_detail, name="detail"),
    path("tickets/<int:number>/reply/", views.ticket_reply, name="reply"),
    path("tickets/<int:number>/reopen/", views.ticket_reopen, name="reopen"),
    path("tickets/<int:number>/cancel/", views.ticket_cancel, name="cancel"),
    path("tickets/<int:number>/copied-in/", views.ticket_cc_add_view, name="cc-add"),
    path("tickets/<int:number>/copied-in/<int:user_id>/remove/", views.ticket_cc_remove_view, name="cc-remove"),
    path("tickets/<int:number>/files/<int:attachment_id>/", views.attachment_download, name="download"),
]
