from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = _("Audit")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import periodic

        from . import checks  # noqa: F401  (registers the system checks)

        periodic.register(
            periodic.Periodic(
                name="audit-checkpoints",
                tenant_task="audit.checkpoint_if_due",
                every_seconds=300,
                jitter_seconds=60,
            )
        )
