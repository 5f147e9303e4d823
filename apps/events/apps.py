from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"
    verbose_name = _("Events")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import periodic
        from apps.policies.actions import register_action

        from . import conf
        from .services.deliveries import OUTBOX_RETRY

        register_action(OUTBOX_RETRY, "Retry a failed or dead-lettered event delivery")
        periodic.register(
            periodic.Periodic(
                name="events-relay",
                tenant_task="events.relay",
                every_seconds=int(conf.get("WARDEN_EVENTS_RELAY_SECONDS")),
                jitter_seconds=int(conf.get("WARDEN_EVENTS_RELAY_JITTER_SECONDS")),
            )
        )
        periodic.register(
            periodic.Periodic(name="events-prune", tenant_task="events.prune", every_seconds=6 * 3600, jitter_seconds=600)
        )
