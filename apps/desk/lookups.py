"""Reads the desk needs besides tickets: who can be assigned, who has the least work, and
who a ticket opened on someone's behalf is for.

Ticket visibility is not decided here (that is `apps.tickets.selectors`); these are
the option lists of the desk's controls and the load figures behind the assignment
suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from apps.accounts.models import Role, User
from apps.tickets import workflow
from apps.tickets.models import Ticket

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
    `exclude_id` (the current assignee) is left out: suggesting them changes nothing.

    Two queries: the candidates, then one GROUP BY over their active tickets (served by a
    partial index on assignee WHERE status is active, when the tickets app has one)."""
    people = agent_list()
    if team_id is not None:
        people = people.filter(memberships__team_id=team_id)
    if exclude_id is not None:
        people = people.exclude(pk=exclude_id)
    candidates = list(people.only("id", "email", "full_name"))
    if not candidates:
        return None
    loads = dict(
        Ticket.objects.filter(assignee_id__in=[u.pk for u in candidates], status__in=sorted(workflow.ACTIVE))
        .order_by()
        .values_list("assignee_id")
        .annotate(n=Count("id"))
    )
    best = min(candidates, key=lambda u: (loads.get(u.pk, 0), u.email))
    return Suggestion(user=best, open_tickets=loads.get(best.pk, 0))


def requester_by_email(email: str) -> User | None:
    """The active user of this tenant with this email (any role), for "New ticket"."""
    email = (email or "").strip()
    if not email:
        return None
    return User.objects.filter(email__iexact=email, is_active=True).order_by("pk").first()


def user_by_email(email: str) -> User | None:
    """The user of this tenant with this email (any role, active or not: the queue's
    requester filter also finds the tickets of someone who has left)."""
    email = (email or "").strip()
    if not email:
        return None
    return User.objects.filter(email__iexact=email).only("id").order_by("pk").first()


def users_by_id(ids) -> dict[int, User]:
    """Users by id, active or not, in one query (the people a ticket page names)."""
    ids = sorted({pk for pk in ids if pk is not None})
    if not ids:
        return {}
    return {u.pk: u for u in User.objects.filter(pk__in=ids).only("id", "email", "full_name")}
