from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = _("Audit")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import governance, periodic

        from . import checks  # noqa: F401  (registers the system checks)
        from .services import audit_record, audit_record_system

        # The apps below the audit layer record through the port (apps/core/governance.py).
        governance.install_recorder(record=audit_record, record_system=audit_record_system)

        periodic.register(
            periodic.Periodic(
                name="audit-checkpoints",
                tenant_task="audit.checkpoint_if_due",
                every_seconds=300,
                jitter_seconds=60,
            )
        )
