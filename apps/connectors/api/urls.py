from django.urls import include, path

from . import views

app_name = "connectors-api"

urlpatterns = [
    path("", views.ConnectorCollectionApi.as_view(), name="list"),
    path("<int:pk>/", views.ConnectorDetailApi.as_view(), name="detail"),
    path("<int:pk>/test/", views.ConnectorTestApi.as_view(), name="test"),
    path("<int:pk>/calls/", views.ConnectorCallListApi.as_view(), name="calls"),
    path("<int:pk>/dead-letters/", views.DeadLetterListApi.as_view(), name="dead-letters"),
    path("<int:pk>/dead-letters/<int:dead_letter_id>/retry/", views.DeadLetterRetryApi.as_view(), name="dead-letter-retry"),
    path("agent/", include("apps.connectors.agent.urls")),  # customer agent (docs/decisions/0024)
]
