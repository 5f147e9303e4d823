from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# Each kind is one package under apps/connectors with a module-level KIND and, when it
# has periodic work or plug-ins to register, a `ready()` called from ready() below.
KIND_PACKAGES = ("servicenow", "github")


class ConnectorsConfig(AppConfig):
    name = "apps.connectors"
    label = "connectors"
    verbose_name = _("Connectors")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import periodic, secrets
        from apps.policies.actions import register_action

        from . import events  # noqa: F401 - declares connector.disabled
        from .actions import DESCRIPTIONS
        from .registry import register_kind

        for package in KIND_PACKAGES:
            module = import_module(f"{self.name}.{package}")
            register_kind(module.KIND)
            if callable(getattr(module, "ready", None)):
                module.ready()
        for action, description in DESCRIPTIONS.items():
            register_action(action, description)
        secrets.register_field("connectors.Connector", "secret", on_unreadable=_disable_unreadable)
        periodic.register(periodic.Periodic(name="connectors-prune", tenant_task="connectors.prune",
                                            every_seconds=6 * 3600, jitter_seconds=600))


def _disable_unreadable(connector) -> None:
    from .disabling import connector_disable_unreadable

    connector_disable_unreadable(connector=connector)
