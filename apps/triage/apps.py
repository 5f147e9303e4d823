from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriageConfig(AppConfig):
    name = "apps.triage"
    label = "triage"
    verbose_name = _("Triage")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import periodic, secrets
        from apps.policies.actions import register_action

        from . import consumers
        from .llm.classifier import classify as llm_classify
        from .llm.classifier import configured as llm_configured
        from .services import TRIAGE_CONFIGURE, TRIAGE_DECIDE
        from .services.classify import register_classifier
        from .services.runs import TRIAGE_OPERATE
        from .slack import consumers as slack_consumers

        consumers.register()
        slack_consumers.register()
        register_action(TRIAGE_DECIDE, "Approve, edit or reject a routing proposal for a ticket "
                                       "(context: verdict, channel, classifier, confidence, fields)")
        register_action(TRIAGE_CONFIGURE, "Change the triage rules and settings")
        register_action(TRIAGE_OPERATE, "Act on a triage workflow run: inspect, escalate, own, unblock, close "
                                        "(context: operation)")
        periodic.register(periodic.Periodic(name="triage-runs-sweep", tenant_task="triage.runs_sweep",
                                            every_seconds=60, jitter_seconds=10))
        register_classifier(llm_classify, available=llm_configured)  # the language model, for tickets no rule matched
        secrets.register_field("triage.LlmProvider", "api_key", on_unreadable=_disable_llm_unreadable)


def _disable_llm_unreadable(provider) -> None:
    from .services.llm import llm_provider_disable_unreadable

    llm_provider_disable_unreadable(provider)
