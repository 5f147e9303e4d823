"""Reads the desk needs besides tickets: who can be assigned, and who has the least work.

Ticket visibility is not decided here (that is `apps.tickets.selectors`); these are
the option lists of the desk's controls and the load figures behind the assignment
suggestion. Each is one query.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from apps.accounts.models import Role, User
from apps.tickets import workflow

ASSIGNABLE_ROLES = (Role.AGENT, Role.ADMIN)


def agent_list() -> QuerySet[User]:
    """Active agents and admins: the people tickets can be assigned to."""
    return User.objects.filter(is_active=True, role__in=ASSIGNABLE_ROLES).order_by("full_name", "email")


@dataclass(frozen=True)
class Suggestion:
    user: User
    open_tickets: int


def suggest_assignee(*, team_id: int | None, exclude_id: int | None = None) -> Suggestion | None:
    """The active agent with the fewest active (new, open, pending) tickets, among the
    members of `team_id` (all agents when the ticket has no team). Ties: by email.
    `exclude_id` (the current assignee) is left out: suggesting them changes nothing."""
    people = agent_list()
    if team_id is not None:
        people = people.filter(memberships__team_id=team_id)
    if exclude_id is not None:
        people = people.exclude(pk=exclude_id)
    best = (
        people.annotate(
            load=Count("assigned_tickets", filter=Q(assigned_tickets__status__in=sorted(workflow.ACTIVE)))
        )
        .order_by("load", "email")
        .first()
    )
    return Suggestion(user=best, open_tickets=best.load) if best is not None else None
