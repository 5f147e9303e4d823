"""URLs of the platform host (<WARDEN_BASE_DOMAIN>): platform admin, health, metrics."""

from django.contrib import admin
from django.urls import include, path

from apps.accounts import views as account_views
from apps.core import problems
from apps.tenants import views as tenant_views

urlpatterns = [
    path("", include("apps.core.urls")),
    path("", account_views.platform_home, name="home"),
    path("mail/", tenant_views.mailbox_view, name="mailbox"),
    path("mail/<str:name>/", tenant_views.mailbox_view, name="mailbox-message"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # Last: an unknown API route is a 404 problem, with DEBUG on too.
    *problems.api_not_found_urls(),
]

handler400 = "apps.core.problems.handler400"
handler403 = "apps.core.problems.handler403"
handler404 = "apps.core.problems.handler404"
handler500 = "apps.core.problems.handler500"
