from django.urls import path

from . import views

app_name = "triage-api"

urlpatterns = [
    path("proposals/", views.ProposalListApi.as_view(), name="proposals"),
    path("proposals/<int:pk>/", views.ProposalDetailApi.as_view(), name="proposal"),
    path("proposals/<int:pk>/decision/", views.ProposalDecisionApi.as_view(), name="decision"),
]
