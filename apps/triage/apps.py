from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriageConfig(AppConfig):
    name = "apps.triage"
    label = "triage"
    verbose_name = _("Triage")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import secrets
        from apps.policies.actions import register_action

        from . import consumers
        from .llm.classifier import classify as llm_classify
        from .services import TRIAGE_CONFIGURE, TRIAGE_DECIDE
        from .services.classify import register_classifier

        consumers.register()
        register_action(TRIAGE_DECIDE, "Approve, edit or reject a routing proposal for a ticket "
                                       "(context: verdict, channel, classifier, confidence, fields)")
        register_action(TRIAGE_CONFIGURE, "Change the triage rules and settings")
        register_classifier(llm_classify)  # the language model, for tickets no rule matched
        secrets.register_field("triage.LlmProvider", "api_key", on_unreadable=_disable_llm_unreadable)


def _disable_llm_unreadable(provider) -> None:
    from .services.llm import llm_provider_disable_unreadable

    llm_provider_disable_unreadable(provider)
