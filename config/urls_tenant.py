"""URLs of a tenant host (<slug>.<WARDEN_BASE_DOMAIN>)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.accounts import views as account_views
from apps.core import problems
from apps.tenants import views as tenant_views
from apps.triage.slack import hooks as slack_hooks

api_v1 = [
    path("auth/", include("apps.accounts.api.urls")),
    path("audit/", include("apps.audit.api.urls")),
    path("policies/", include("apps.policies.api.urls")),
    path("sla/", include("apps.sla.api.urls")),
    path("notifications/", include("apps.notifications.api.urls")),
    path("connectors/", include("apps.connectors.api.urls")),
    path("triage/", include("apps.triage.api.urls")),
    path("", include("apps.tickets.api.urls")),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Our template: drf-spectacular's without its Google Fonts links (nothing loads from outside).
    path("redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="core/api_redoc.html"),
         name="api-redoc"),
]

urlpatterns = [
    path("", include("apps.core.urls")),
    path("", account_views.home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("desk/", include("apps.desk.urls")),
    path("portal/", include("apps.portal.urls")),
    path("notifications/", include("apps.notifications.urls")),
    path("hooks/github/", include("apps.connectors.github.urls")),
    path("hooks/slack/interactivity/", slack_hooks.slack_interactivity, name="slack-interactivity"),
    path("hooks/slack/events/", slack_hooks.slack_events, name="slack-events"),
    path("admin/security/", admin.site.admin_view(tenant_views.security_view), name="tenant-security"),
    path("admin/time-zone/", admin.site.admin_view(tenant_views.time_zone_view), name="tenant-time-zone"),
    path("profile/", account_views.profile_view, name="profile"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("i18n/", include("django.conf.urls.i18n")),
    # Last: an unknown API route is a 404 problem, with DEBUG on too.
    *problems.api_not_found_urls(),
]

handler400 = "apps.core.problems.handler400"
handler403 = "apps.core.problems.handler403"
handler404 = "apps.core.problems.handler404"
handler500 = "apps.core.problems.handler500"
