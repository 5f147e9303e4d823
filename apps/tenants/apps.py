from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    label = "tenants"
    verbose_name = _("Tenants")

    def ready(self) -> None:
        from apps.core.tasks import register_run_guard

        from .residency import task_guard

        register_run_guard(task_guard)
