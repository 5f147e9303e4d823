"""Template helpers of the desk.

    {% load desk %}
    {{ ticket.requester|person }}   the full name, the email address on hover (apps/desk/people.py)
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
