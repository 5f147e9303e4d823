from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriageConfig(AppConfig):
    name = "apps.triage"
    label = "triage"
    verbose_name = _("Triage")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import periodic
        from apps.policies.actions import register_action

        from . import consumers
        from .services import TRIAGE_CONFIGURE, TRIAGE_DECIDE
        from .services.runs import TRIAGE_OPERATE

        consumers.register()
        register_action(TRIAGE_DECIDE, "Approve, edit or reject a routing proposal for a ticket "
                                       "(context: verdict, channel, classifier, confidence, fields)")
        register_action(TRIAGE_CONFIGURE, "Change the triage rules and settings")
        register_action(TRIAGE_OPERATE, "Act on a triage workflow run: inspect, escalate, own, unblock, close "
                                        "(context: operation)")
        periodic.register(periodic.Periodic(name="triage-runs-sweep", tenant_task="triage.runs_sweep",
                                            every_seconds=60, jitter_seconds=10))
