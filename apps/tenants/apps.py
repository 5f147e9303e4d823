from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    label = "tenants"
    verbose_name = _("Tenants")

    def ready(self) -> None:
        from apps.policies.actions import register_action

        from .services import TENANT_SECURITY

        register_action(TENANT_SECURITY, "Change the organisation's security settings (MFA required for admins)")
