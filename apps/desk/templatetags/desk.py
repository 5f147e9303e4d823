"""Template helpers of the desk.

    {% load desk %}
    {{ ticket.requester|person }}   the full name, the email address on hover (apps/desk/people.py)
    {% watch_panel ticket %}         followers, people copied in, the Follow button
"""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from .. import people

register = template.Library()


@register.filter
def person(user) -> SafeString | str:
    """A user (or a `people.Person`) as the desk names people; "" for nobody."""
    if user is None or user == "":
        return ""
    found = user if isinstance(user, people.Person) else people.person(user)
    return found.html


@register.inclusion_tag("desk/_watch.html", takes_context=True)
def watch_panel(context, ticket) -> dict:
    """Who follows the ticket and who is copied in on it, and the Follow button."""
    from apps.notifications import selectors as notifications

    user = context["request"].user
    following = notifications.followers(ticket)
    return {
        "ticket": ticket,
        "followers": following,
        "following": any(person.pk == user.pk for person in following),
        "copied_in": notifications.copied_in(ticket),
        "csrf_token": context.get("csrf_token"),
    }
