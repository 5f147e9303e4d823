from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PoliciesConfig(AppConfig):
    name = "apps.policies"
    label = "policies"
    verbose_name = _("Policies")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import governance, periodic
        from apps.tenants.provisioning import ProvisionStep, register_step

        from .services import policy_denial_persist_any, policy_install_baseline, policy_require

        # The apps below the governance layer ask through the port (apps/core/governance.py).
        governance.install_gate(require=policy_require, persist_denial=policy_denial_persist_any)
        # Every new tenant starts with the baseline rules; later steps are decided by them.
        register_step(ProvisionStep(name="governance-baseline", order=100, run=lambda tenant: policy_install_baseline()))

        periodic.register(
            periodic.Periodic(
                name="policies-housekeeping",
                tenant_task="policies.housekeeping",
                every_seconds=6 * 3600,
                jitter_seconds=600,
            )
        )
