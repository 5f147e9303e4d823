from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("", views.inbox_view, name="inbox"),
    path("bell/", views.bell_view, name="bell"),
    path("read/", views.read_view, name="read"),
    path("<int:notification_id>/open/", views.open_view, name="open"),
    path("preferences/", views.preferences_view, name="preferences"),
    path("unsubscribe/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
]
