"""What people are told about: notification kinds, who hears each by default, and which
domain events they come from. Pure: no ORM.

A kind is finer than an event type: `ticket.commented` is a public reply to the
requester, a requester's reply to the agents, or an internal note, and it may mention
people. Every kind has an audience: `AGENTS` kinds are never sent to requesters (an
internal note, an SLA warning), whatever a rule says.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    TICKET_CREATED = "ticket_created", _("New ticket")
    TICKET_ASSIGNED = "ticket_assigned", _("Ticket assigned")
    PUBLIC_REPLY = "public_reply", _("Reply from the help desk")
    REQUESTER_REPLY = "requester_reply", _("Reply from the requester")
    INTERNAL_NOTE = "internal_note", _("Internal note")
    MENTIONED = "mentioned", _("You were mentioned")
    TICKET_RESOLVED = "ticket_resolved", _("Ticket resolved")
    TICKET_REOPENED = "ticket_reopened", _("Ticket reopened")
    TICKET_CLOSED = "ticket_closed", _("Ticket closed")
    SLA_WARNING = "sla_warning", _("SLA warning")
    SLA_BREACHED = "sla_breached", _("SLA breached")
    SLACK_DISCONNECTED = "slack_disconnected", _("Slack was switched off")
    CONNECTOR_DISABLED = "connector_disabled", _("A connector was switched off")


class Role(models.TextChoices):
    """Who a rule names; resolved to people of the tenant for each ticket."""

    REQUESTER = "requester", _("Requester")
    ASSIGNEE = "assignee", _("Assignee")
    TEAM = "team", _("Team members")
    TEAM_LEAD = "team_lead", _("Team lead")
    WATCHERS = "watchers", _("Watchers and people in copy")
    MENTIONED = "mentioned", _("Mentioned people")
    ADMINS = "admins", _("Tenant admins")


class Channel(models.TextChoices):
    IN_APP = "in_app", _("In the app")
    EMAIL = "email", _("Email")
    SLACK = "slack", _("Slack")


AGENTS = "agents"
EVERYONE = "everyone"


@dataclass(frozen=True)
class KindSpec:
    kind: Kind
    audience: str  # AGENTS or EVERYONE
    recipients: tuple[Role, ...]  # the shipped default rule
    channels: tuple[Channel, ...]  # channels on by default for a person


_ALL = (Channel.IN_APP, Channel.EMAIL, Channel.SLACK)

SPECS: dict[Kind, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(Kind.TICKET_CREATED, AGENTS, (Role.TEAM,), _ALL),
        KindSpec(Kind.TICKET_ASSIGNED, AGENTS, (Role.ASSIGNEE,), _ALL),
        KindSpec(Kind.PUBLIC_REPLY, EVERYONE, (Role.REQUESTER, Role.WATCHERS), _ALL),
        KindSpec(Kind.REQUESTER_REPLY, AGENTS, (Role.ASSIGNEE, Role.WATCHERS), _ALL),
        KindSpec(Kind.INTERNAL_NOTE, AGENTS, (Role.WATCHERS,), (Channel.IN_APP,)),
        KindSpec(Kind.MENTIONED, EVERYONE, (Role.MENTIONED,), _ALL),
        KindSpec(Kind.TICKET_RESOLVED, EVERYONE, (Role.REQUESTER, Role.WATCHERS), _ALL),
        KindSpec(Kind.TICKET_REOPENED, AGENTS, (Role.ASSIGNEE,), _ALL),
        KindSpec(Kind.TICKET_CLOSED, EVERYONE, (), (Channel.IN_APP,)),
        KindSpec(Kind.SLA_WARNING, AGENTS, (Role.ASSIGNEE,), (Channel.IN_APP, Channel.EMAIL)),
        KindSpec(Kind.SLA_BREACHED, AGENTS, (Role.ASSIGNEE, Role.TEAM_LEAD), _ALL),
        # An alert to the tenant admins, not a rule's choice (no event, no outside channel).
        KindSpec(Kind.SLACK_DISCONNECTED, AGENTS, (), (Channel.IN_APP,)),
        KindSpec(Kind.CONNECTOR_DISABLED, AGENTS, (), (Channel.IN_APP,)),
    )
}
# Told to the tenant's admins whatever the rules say; nobody opts out of them.
ADMIN_ALERTS = frozenset({Kind.SLACK_DISCONNECTED, Kind.CONNECTOR_DISABLED})


def default_rules() -> dict[str, list[str]]:
    """kind -> roles, as a new tenant starts."""
    return {kind.value: [role.value for role in spec.recipients] for kind, spec in SPECS.items()}
