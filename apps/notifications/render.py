"""What a notification says, in its reader's language: a headline, an excerpt the reader
may read, and a link to the ticket where they work on it (the desk for agents, the portal
for requesters). Shared by the in-app list, email and Slack."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.template import Context, Template, TemplateSyntaxError
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from apps.accounts import permissions
from apps.accounts.models import User
from apps.tickets.models import TicketComment

from .kinds import Kind
from .models import Notification, TemplateOverride

EXCERPT_CHARS = 400


@dataclass(frozen=True)
class Item:
    notification: Notification
    headline: str
    excerpt: str
    url: str


def person_name(user: User | None) -> str:
    if user is None:
        return _("Warden")
    return user.full_name or user.email


def language_of(user: User) -> str:
    from django.conf import settings

    wanted = (user.language or "").split("-")[0]
    return wanted if wanted in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def ticket_url(user: User, ticket, *, absolute: bool = True) -> str:
    name = "desk:ticket" if permissions.is_agent(user) else "portal:detail"
    path = reverse(name, kwargs={"number": ticket.number})
    return connection.tenant.url(path) if absolute else path


def _headline(notification: Notification) -> str:
    actor = person_name(notification.actor)
    number = notification.ticket.number if notification.ticket_id else ""
    context = notification.context or {}
    metric = {"first_response": _("first response"), "resolution": _("resolution")}.get(context.get("metric"), "")
    kind = notification.kind
    texts = {
        Kind.TICKET_CREATED: _("New ticket #%(number)s from %(actor)s"),
        Kind.TICKET_ASSIGNED: _("%(actor)s assigned ticket #%(number)s to you"),
        Kind.PUBLIC_REPLY: _("%(actor)s replied on ticket #%(number)s"),
        Kind.REQUESTER_REPLY: _("%(actor)s replied on ticket #%(number)s"),
        Kind.INTERNAL_NOTE: _("%(actor)s added an internal note on ticket #%(number)s"),
        Kind.MENTIONED: _("%(actor)s mentioned you on ticket #%(number)s"),
        Kind.TICKET_RESOLVED: _("Ticket #%(number)s was resolved"),
        Kind.TICKET_REOPENED: _("Ticket #%(number)s was reopened"),
        Kind.TICKET_CLOSED: _("Ticket #%(number)s was closed"),
        Kind.SLA_WARNING: _("Ticket #%(number)s has used %(threshold)s%% of its %(metric)s target"),
        Kind.SLA_BREACHED: _("Ticket #%(number)s missed its %(metric)s target"),
        Kind.SLACK_DISCONNECTED: _("Slack was switched off: %(reason)s"),
    }
    text = texts.get(kind, _("Update on ticket #%(number)s"))
    return text % {"actor": actor, "number": number, "threshold": context.get("threshold", ""), "metric": metric,
                   "reason": context.get("reason", "")}


def _excerpt(notification: Notification, reader: User) -> str:
    """The comment a reply or mention is about, if the reader may read it; never an
    internal note for a requester."""
    comment_id = (notification.context or {}).get("comment")
    if not comment_id:
        return ""
    comment = TicketComment.objects.filter(pk=comment_id).only("body", "internal").first()
    if comment is None or (comment.internal and not permissions.is_agent(reader)):
        return ""
    body = " ".join(comment.body.split())
    return body if len(body) <= EXCERPT_CHARS else body[: EXCERPT_CHARS - 1] + "…"


def items(notifications: list[Notification], reader: User, *, absolute: bool = True, channel: str = "in_app") -> list[Item]:
    """Each notification as its reader reads it (in the active language); links absolute
    for email and Slack, paths for the app."""
    home = connection.tenant.url("/") if absolute else "/"
    return [
        Item(
            notification=n,
            headline=_override(n, channel) or _headline(n),
            excerpt=_excerpt(n, reader),
            url=ticket_url(reader, n.ticket, absolute=absolute) if n.ticket_id else home,
        )
        for n in notifications
    ]


def _override(notification: Notification, channel: str) -> str:
    """The tenant's own wording for this kind, if it set one for the reader's language."""
    override = TemplateOverride.objects.filter(
        kind=notification.kind, channel=channel, language=translation.get_language() or "en"
    ).first()
    if override is None:
        return ""
    return render_override(override.body, sample_context(notification))


def sample_context(notification: Notification | None = None) -> dict:
    """The variables a template may use (and what a preview shows)."""
    if notification is None:
        return {"number": 42, "title": "Printer on floor 2 jams", "actor": "Ola Kowalska", "kind": "public_reply"}
    ticket = notification.ticket
    return {
        "number": ticket.number if ticket else "",
        "title": ticket.title if ticket else "",
        "actor": person_name(notification.actor),
        "kind": notification.kind,
    }


class TemplateInvalid(ValueError):
    pass


def render_override(body: str, variables: dict) -> str:
    """Render a tenant's template (Django template language) to plain text; whoever shows
    it escapes it (HTML email, the in-app list, Slack's mrkdwn)."""
    try:
        template = Template(body)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(str(exc)) from exc
    # Plain text, not "safe" HTML: the template's literal text is the tenant's, and must be
    # escaped like any text wherever it is shown (an HTML email, the admin's preview).
    return "".join([template.render(Context(variables, autoescape=False))])
