"""Template helpers of the desk.

    {% load desk %}
    {{ ticket.requester|person }}   the full name, the email address on hover (apps/desk/people.py)
    {% watch_panel ticket %}         followers, people copied in, the Follow button
    {% follow_up_links ticket %}     the ticket it follows up on, the follow-ups opened from it
    {% desk_time ticket.updated_at %}  a queue cell's <time>: day and time, the full date on hover
    {% desk_field form.team %}        what {% include "desk/_field.html" with field=form.team %} writes
"""

from __future__ import annotations

from django import template
from django.utils.dateformat import DateFormat
from django.utils.formats import get_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime

from .. import people

register = template.Library()


@register.filter
def person(user) -> SafeString | str:
    """A user (or a `people.Person`) as the desk names people; "" for nobody."""
    if user is None or user == "":
        return ""
    found = user if isinstance(user, people.Person) else people.person(user)
    return found.html


@register.simple_tag
def desk_time(value) -> SafeString:
    """What `<time datetime="{{ v|date:'c' }}" title="{{ v|date:'DATETIME_FORMAT' }}"><span>{{
    v|date:"j M" }}</span> <span>{{ v|date:"H:i T" }}</span></time>` writes, in the viewer's
    zone and language, with one DateFormat instead of four `date` filters (a queue page
    shows two of these per row)."""
    if value in (None, ""):
        return format_html('<time datetime="" title=""><span></span> <span></span></time>')
    moment = DateFormat(template_localtime(value))
    return format_html(
        '<time datetime="{}" title="{}"><span>{} {}</span> <span>{}:{} {}</span></time>',
        moment.c(), moment.format(get_format("DATETIME_FORMAT")), moment.j(), moment.M(), moment.H(), moment.i(),
        moment.T(),
    )


@register.simple_tag
def desk_field(field, css_class: str = "") -> SafeString:
    """One form field, exactly as `desk/_field.html` writes it (label, help, errors, the
    widget), byte for byte: the queue shows twenty of them, and each include cost as much
    as the widget itself. `tests/ui/test_desk_field.py` holds the two together."""
    errors = field.errors
    auto_id = field.auto_id
    parts = [
        "\n\n",
        format_html('<div class="field{}{}">\n', " has-error" if errors else "", f" {css_class}" if css_class else ""),
        format_html('  <label for="{}">{}</label>\n  ', field.id_for_label, field.label),
    ]
    if field.help_text:
        parts.append(format_html('<p class="help" id="{}_helptext">{}</p>', auto_id, field.help_text))
    parts.append("\n  ")
    if errors:
        parts.append(format_html('<ul class="field-error" id="{}_error">', auto_id))
        parts.extend(format_html("<li>{}</li>", error) for error in errors)
        parts.append("</ul>")
    parts.append(format_html("\n  {}\n</div>\n", field))
    return mark_safe("".join(parts))  # noqa: S308 - every value escaped by format_html above


@register.inclusion_tag("desk/_watch.html", takes_context=True)
def watch_panel(context, ticket) -> dict:
    """Who follows the ticket and who is copied in on it, and the Follow button."""
    from apps.notifications import selectors as notifications

    user = context["request"].user
    following, copied_in = notifications.watchers_of(ticket)
    return {
        "ticket": ticket,
        "followers": following,
        "following": any(person.pk == user.pk for person in following),
        "copied_in": copied_in,
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("desk/_connected.html", takes_context=True)
def connected_panel(context, ticket) -> dict:
    """The ServiceNow incident the ticket came from, its write-backs, its GitHub issues."""
    from apps.desk.connected import panel

    return {**panel(ticket), "ticket": ticket, "csrf_token": context.get("csrf_token")}


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
