from django import template

from apps.accounts import permissions

from .. import conf, selectors

register = template.Library()


@register.inclusion_tag("notifications/_bell.html", takes_context=True)
def notification_bell(context) -> dict:
    """The header's bell: the signed-in person's unread count (one indexed count)."""
    user = context["request"].user
    count = selectors.unread_count(user=user) if permissions.is_member(user) else 0
    return {"unread_count": count, "poll_seconds": conf.get("WARDEN_NOTIFICATIONS_POLL_SECONDS")}
