from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    name = "apps.sla"
    label = "sla"
    verbose_name = _("SLA")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import periodic

        from . import actions, conf

        actions.register()
        periodic.register(
            periodic.Periodic(
                name="sla-sweep",
                tenant_task="sla.sweep",
                every_seconds=int(conf.get("WARDEN_SLA_SWEEP_SECONDS")),
                jitter_seconds=int(conf.get("WARDEN_SLA_SWEEP_JITTER_SECONDS")),
            )
        )
