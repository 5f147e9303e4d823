from django.urls import path

from .webhooks import github_hook

urlpatterns = [
    path("", github_hook, name="github-hook"),
]
