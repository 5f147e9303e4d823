from django.urls import path

from . import views

app_name = "notifications-api"

urlpatterns = [
    path("", views.NotificationListApi.as_view(), name="list"),
    path("read/", views.NotificationReadApi.as_view(), name="read"),
    path("preferences/", views.PreferencesApi.as_view(), name="preferences"),
]
