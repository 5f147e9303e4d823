from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    label = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        from apps.policies.actions import register_action

        from .services import TENANT_SECURITY

        register_action(TENANT_SECURITY, "Change the organisation's security settings (MFA required for admins)")
