"""Template helpers of the desk.

    {% load desk %}
    {{ ticket.requester|person }}   the full name, the email address on hover (apps/desk/people.py)
    {% watch_panel ticket %}         followers, people copied in, the Follow button
    {% follow_up_links ticket %}     the ticket it follows up on, the follow-ups opened from it
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


@register.inclusion_tag("desk/_follow_ups.html", takes_context=True)
def follow_up_links(context, ticket) -> dict:
    """The ticket this one follows up on (a requester's reply after resolution opened it)
    and the follow-ups opened from this one. Only a resolved or closed ticket can have
    follow-ups, so other tickets cost no query; links are to tickets the agent may see."""
    from apps.tickets import selectors
    from apps.tickets.choices import TicketStatus

    user = context["request"].user
    origin = None
    if ticket.follow_up_of_id:
        origin = selectors.ticket_visible_queryset(actor=user).filter(pk=ticket.follow_up_of_id).first()
    follow_ups = []
    if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        follow_ups = list(selectors.ticket_follow_ups(actor=user, ticket=ticket).only("number", "title"))
    return {"origin": origin, "follow_ups": follow_ups}
