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
from django.utils.translation import gettext_noop

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


# What each kind says (translated when used: only the one needed is looked up).
HEADLINES = {
    Kind.TICKET_CREATED: gettext_noop("New ticket #%(number)s from %(actor)s"),
    Kind.TICKET_ASSIGNED: gettext_noop("%(actor)s assigned ticket #%(number)s to you"),
    Kind.PUBLIC_REPLY: gettext_noop("%(actor)s replied on ticket #%(number)s"),
    Kind.REQUESTER_REPLY: gettext_noop("%(actor)s replied on ticket #%(number)s"),
    Kind.INTERNAL_NOTE: gettext_noop("%(actor)s added an internal note on ticket #%(number)s"),
    Kind.MENTIONED: gettext_noop("%(actor)s mentioned you on ticket #%(number)s"),
    Kind.TICKET_RESOLVED: gettext_noop("Ticket #%(number)s was resolved"),
    Kind.TICKET_REOPENED: gettext_noop("Ticket #%(number)s was reopened"),
    Kind.TICKET_CLOSED: gettext_noop("Ticket #%(number)s was closed"),
    Kind.SLA_WARNING: gettext_noop("Ticket #%(number)s has used %(threshold)s%% of its %(metric)s target"),
    Kind.SLA_BREACHED: gettext_noop("Ticket #%(number)s missed its %(metric)s target"),
    Kind.SLACK_DISCONNECTED: gettext_noop("Slack was switched off: %(reason)s"),
    Kind.CONNECTOR_DISABLED: gettext_noop("Connector #%(connector)s was switched off: %(reason)s"),
}
# Why a connector was switched off (`connector.disabled`'s reason).
CONNECTOR_REASONS = {
    "secret_unreadable": gettext_noop("no configured key decrypts its secret; set the secret again in the admin"),
    "admin": gettext_noop("by a tenant admin"),
}
METRICS = {"first_response": gettext_noop("first response"), "resolution": gettext_noop("resolution")}


def _headline(notification: Notification) -> str:
    context = notification.context or {}
    metric = METRICS.get(context.get("metric"))
    text = _(HEADLINES.get(notification.kind, gettext_noop("Update on ticket #%(number)s")))
    return text % {
        "actor": person_name(notification.actor),
        "number": notification.ticket.number if notification.ticket_id else "",
        "threshold": context.get("threshold", ""),
        "metric": _(metric) if metric else "",
        "reason": _reason(notification),
        "connector": context.get("connector", ""),
    }


def _reason(notification: Notification) -> str:
    reason = (notification.context or {}).get("reason", "")
    if notification.kind == Kind.CONNECTOR_DISABLED and reason in CONNECTOR_REASONS:
        return _(CONNECTOR_REASONS[reason])
    return reason


def _excerpt(notification: Notification, reader: User, comments: dict[int, TicketComment]) -> str:
    """The comment a reply or mention is about, if the reader may read it; never an
    internal note for a requester."""
    comment = comments.get((notification.context or {}).get("comment"))
    if comment is None or (comment.internal and not permissions.is_agent(reader)):
        return ""
    body = " ".join(comment.body.split())
    return body if len(body) <= EXCERPT_CHARS else body[: EXCERPT_CHARS - 1] + "…"


def load_overrides() -> dict[tuple[str, str, str], str]:
    """The tenant's own wordings, (kind, channel, language) -> template; a sender of many
    messages reads them once and passes them to `items()`."""
    return {(o.kind, o.channel, o.language): o.body for o in TemplateOverride.objects.all()}


def items(
    notifications: list[Notification],
    reader: User,
    *,
    absolute: bool = True,
    channel: str = "in_app",
    overrides: dict[tuple[str, str, str], str] | None = None,
) -> list[Item]:
    """Each notification as its reader reads it (in the active language); links absolute
    for email and Slack, paths for the app."""
    home = connection.tenant.url("/") if absolute else "/"
    wordings = overrides if overrides is not None else load_overrides()
    comment_ids = {n.context.get("comment") for n in notifications if n.context and n.context.get("comment")}
    comments = TicketComment.objects.only("body", "internal").in_bulk(comment_ids) if comment_ids else {}
    language = translation.get_language() or "en"
    return [
        Item(
            notification=n,
            headline=_override(n, wordings.get((n.kind, channel, language))) or _headline(n),
            excerpt=_excerpt(n, reader, comments),
            url=ticket_url(reader, n.ticket, absolute=absolute) if n.ticket_id else _other_url(n, home, absolute),
        )
        for n in notifications
    ]


def _other_url(notification: Notification, home: str, absolute: bool) -> str:
    """Where an entry about no ticket leads: a disabled connector's admin page."""
    connector = (notification.context or {}).get("connector")
    if notification.kind != Kind.CONNECTOR_DISABLED or not isinstance(connector, int):
        return home
    path = reverse("admin:connectors_connector_change", args=[connector])
    return connection.tenant.url(path) if absolute else path


def _override(notification: Notification, body: str | None) -> str:
    """The tenant's own wording for this kind, if it set one for the reader's language."""
    if not body:
        return ""
    return render_override(body, sample_context(notification))


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
