from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriageConfig(AppConfig):
    name = "apps.triage"
    label = "triage"
    verbose_name = _("Triage")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.policies.actions import register_action

        from . import consumers
        from .services import TRIAGE_CONFIGURE, TRIAGE_DECIDE
        from .slack import consumers as slack_consumers

        consumers.register()
        slack_consumers.register()
        register_action(TRIAGE_DECIDE, "Approve, edit or reject a routing proposal for a ticket "
                                       "(context: verdict, channel, classifier, confidence, fields)")
        register_action(TRIAGE_CONFIGURE, "Change the triage rules and settings")
