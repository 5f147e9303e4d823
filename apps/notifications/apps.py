from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = _("Notifications")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import secrets
        from apps.policies.actions import register_action
        from apps.tickets.extensions import register_requester_access

        from . import consumers, selectors
        from .services.preferences import NOTIFICATION_CONFIGURE
        from .services.watchers import TICKET_WATCH

        consumers.register()
        # The bot token is re-encrypted by `rotate_secrets` (an unreadable one is switched
        # off when Slack is next used, see channels/slack.py).
        secrets.register_field("notifications.SlackWorkspace", "bot_token")
        secrets.register_field("notifications.SlackWorkspace", "signing_secret")
        secrets.register_field("notifications.SlackWorkspace", "app_token")
        register_requester_access("notifications.cc", selectors.copied_in_condition)
        register_action(NOTIFICATION_CONFIGURE, "Change who is told what (notification rules, channel defaults, "
                                                "templates, Slack)")
        register_action(TICKET_WATCH, "Follow a ticket (be told of its changes)")
