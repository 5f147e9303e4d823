from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    name = "apps.sla"
    label = "sla"
    verbose_name = _("SLA")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.accounts.references import register_team_reference
        from apps.core import periodic
        from apps.tenants.provisioning import ProvisionStep, register_step

        from . import actions, conf, consumers
        from .selectors import team_policy_references
        from .services import sla_defaults_install

        actions.register()
        consumers.register()  # reactions to ticket events, and to its own (apps/sla/consumers.py)
        _register_ticket_block()
        register_team_reference(team_policy_references)
        # Every new tenant starts with calendars and a P1..P4 policy set (after the
        # governance baseline, which decides those writes).
        register_step(
            ProvisionStep(name="sla-defaults", order=200, run=lambda tenant: sla_defaults_install(region=tenant.region))
        )
        periodic.register(
            periodic.Periodic(
                name="sla-sweep",
                tenant_task="sla.sweep",
                every_seconds=int(conf.get("WARDEN_SLA_SWEEP_SECONDS")),
                jitter_seconds=int(conf.get("WARDEN_SLA_SWEEP_JITTER_SECONDS")),
            )
        )


def _register_ticket_block() -> None:
    """The `sla` block of every ticket in the API, through the tickets app's plug point."""
    from apps.tickets.extensions import TicketField, register_ticket_field

    from .api.serializers import TicketSlaField
    from .selectors import clock_prefetch

    def field() -> TicketSlaField:
        return TicketSlaField(
            source="*",
            read_only=True,
            help_text="SLA clocks: due times, state, time left. Requesters get the resolution due time and state only.",
        )

    register_ticket_field(TicketField(name="sla", field=field, prefetch=clock_prefetch))
