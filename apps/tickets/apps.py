from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "apps.tickets"
    label = "tickets"
    verbose_name = _("Tickets")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.accounts.references import register_team_reference

        from . import actions, events, selectors  # noqa: F401  (events: declares the event types)

        actions.register()
        register_team_reference(selectors.team_queue_references)
