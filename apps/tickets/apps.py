from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "apps.tickets"
    label = "tickets"
    verbose_name = _("Tickets")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.accounts.references import register_team_reference
        from apps.core import periodic

        from . import actions, conf, events, selectors  # noqa: F401  (events: declares the event types)

        actions.register()
        # A team cannot go while tickets queue in it or new tickets are routed to it.
        register_team_reference(selectors.team_queue_references)
        register_team_reference(selectors.team_routing_references)
        # Resolved tickets close by themselves after the tenant's `auto_close_days`.
        periodic.register(
            periodic.Periodic(
                name="tickets-autoclose",
                tenant_task="tickets.autoclose",
                every_seconds=int(conf.get("WARDEN_TICKETS_AUTOCLOSE_EVERY_SECONDS")),
                jitter_seconds=int(conf.get("WARDEN_TICKETS_AUTOCLOSE_JITTER_SECONDS")),
            )
        )
