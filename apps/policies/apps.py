from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PoliciesConfig(AppConfig):
    name = "apps.policies"
    label = "policies"
    verbose_name = _("Policies")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import periodic

        periodic.register(
            periodic.Periodic(
                name="policies-housekeeping",
                tenant_task="policies.housekeeping",
                every_seconds=6 * 3600,
                jitter_seconds=600,
            )
        )
