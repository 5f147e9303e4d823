from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The requester portal: composes tickets and SLA for requesters.

    A top-layer app: it imports the apps below it and nothing imports it."""

    name = "apps.portal"
    label = "portal"
    verbose_name = _("Requester portal")
