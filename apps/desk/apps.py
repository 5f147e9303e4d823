from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeskConfig(AppConfig):
    """The agent desk: composes tickets, SLA and (later) notifications and triage.

    A top-layer app: it imports the apps below it and nothing imports it."""

    name = "apps.desk"
    label = "desk"
    verbose_name = _("Agent desk")
