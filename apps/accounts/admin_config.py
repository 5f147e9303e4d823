from django.contrib.admin.apps import AdminConfig


class WardenAdminConfig(AdminConfig):
    default_site = "apps.accounts.admin_site.WardenAdminSite"
