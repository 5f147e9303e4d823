"""Reads of the notifications app: the rules, who a role means for a ticket, each person's
effective channels, and a person's inbox."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from apps.accounts.models import Role as UserRole
from apps.accounts.models import TeamMembership, User
from apps.sla.models import SlaEvent
from apps.tickets import workflow

from .kinds import AGENTS, SPECS, Channel, Kind, Role
from .models import ChannelDefault, Notification, NotificationRule, Preference, Profile, Watcher, WatcherKind


def rules() -> dict[str, tuple[bool, list[str]]]:
    """kind -> (enabled, roles) as the tenant set them (shipped defaults where missing)."""
    found = {rule.kind: (rule.enabled, list(rule.recipients)) for rule in NotificationRule.objects.all()}
    return {kind.value: found.get(kind.value, (True, [r.value for r in SPECS[kind].recipients])) for kind in Kind}


def people_for(roles: Iterable[str], *, ticket, mentioned: Iterable[int] = ()) -> dict[int, tuple[User, set[str]]]:
    """The active people of this tenant each role means for `ticket`: user id -> (user,
    the roles that named them). "assignee" means the team while the ticket has none;
    "team" means the tenant admins while the ticket has no team (a new ticket is never
    told to nobody)."""
    roles = set(roles)
    wanted: dict[int, set[str]] = {}

    def add(user_id: int | None, role: str) -> None:
        if user_id is not None:
            wanted.setdefault(user_id, set()).add(role)

    team_id = ticket.team_id
    if Role.REQUESTER in roles:
        add(ticket.requester_id, Role.REQUESTER)
    if Role.ASSIGNEE in roles:
        if ticket.assignee_id is not None:
            add(ticket.assignee_id, Role.ASSIGNEE)
        elif team_id is not None:
            for user_id in TeamMembership.objects.filter(team_id=team_id).values_list("user_id", flat=True):
                add(user_id, Role.ASSIGNEE)
    if Role.TEAM in roles:
        if team_id is not None:
            for user_id in TeamMembership.objects.filter(team_id=team_id).values_list("user_id", flat=True):
                add(user_id, Role.TEAM)
        else:
            for user_id in User.objects.filter(role=UserRole.ADMIN, is_active=True).values_list("pk", flat=True):
                add(user_id, Role.TEAM)
    if Role.TEAM_LEAD in roles and team_id is not None and ticket.team is not None:
        add(ticket.team.lead_id, Role.TEAM_LEAD)
    if Role.WATCHERS in roles:
        for user_id in Watcher.objects.filter(ticket_id=ticket.pk).values_list("user_id", flat=True):
            add(user_id, Role.WATCHERS)
    if Role.MENTIONED in roles:
        for user_id in mentioned:
            add(user_id, Role.MENTIONED)
    if Role.ADMINS in roles:
        for user_id in User.objects.filter(role=UserRole.ADMIN, is_active=True).values_list("pk", flat=True):
            add(user_id, Role.ADMINS)
    if not wanted:
        return {}
    users = User.objects.filter(pk__in=list(wanted), is_active=True).only("pk", "email", "full_name", "role", "language")
    return {user.pk: (user, wanted[user.pk]) for user in users}


def may_hear(user: User, *, kind: str, ticket) -> bool:
    """Whether `user` may be told of `kind` on `ticket`: agents of everything, requesters
    only of what requesters may read, on a ticket they may see (their own, or copied in)."""
    if user.role in (UserRole.AGENT, UserRole.ADMIN):
        return True
    if SPECS[Kind(kind)].audience == AGENTS:
        return False
    if ticket.requester_id == user.pk:
        return True
    return Watcher.objects.filter(ticket_id=ticket.pk, user_id=user.pk).exists()


def channels_for(users: Iterable[User], kind: str) -> dict[int, set[str]]:
    """user id -> the channels `kind` goes out on for that person: their own choice, else
    the tenant's default, else the shipped default."""
    users = list(users)
    shipped = {c.value for c in SPECS[Kind(kind)].channels}
    tenant = {d.channel: d.enabled for d in ChannelDefault.objects.filter(kind=kind)}
    base = {c.value for c in Channel if tenant.get(c.value, c.value in shipped)}
    own: dict[int, dict[str, bool]] = {}
    for pref in Preference.objects.filter(user__in=users, kind=kind):
        own.setdefault(pref.user_id, {})[pref.channel] = pref.enabled
    result = {}
    for user in users:
        chosen = own.get(user.pk, {})
        result[user.pk] = {c.value for c in Channel if chosen.get(c.value, c.value in base)}
    return result


def profiles_for(users: Iterable[User]) -> dict[int, Profile]:
    users = list(users)
    found = {p.user_id: p for p in Profile.objects.filter(user__in=users)}
    return {u.pk: found.get(u.pk) or Profile(user=u) for u in users}


def notification_list(*, user, unread: bool = False, kind: str | None = None) -> QuerySet[Notification]:
    """A person's own notifications, newest first, with what the list shows."""
    queryset = Notification.objects.filter(recipient=user).select_related("ticket", "actor")
    if unread:
        queryset = queryset.filter(read_at__isnull=True)
    if kind:
        queryset = queryset.filter(kind=kind)
    return queryset.order_by("-id")


def unread_count(*, user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def sla_event_worth_telling(sla_event_id: int) -> bool:
    """Whether a warning or breach is still news: its ticket is still being worked (one
    resolved or cancelled before the event was handled bothers nobody; one whose clock an
    escalation re-targeted still tells of the breach it had), and no more severe threshold
    of the same clock was crossed already (after an outage, one notification about the
    worst, not one per threshold)."""
    event = SlaEvent.objects.select_related("ticket").filter(pk=sla_event_id).first()
    if event is None or event.ticket.status not in workflow.ACTIVE:
        return False
    return not SlaEvent.objects.filter(clock_id=event.clock_id, threshold__gt=event.threshold).exists()


def followers(ticket) -> list[User]:
    """The agents following `ticket`, by name."""
    return list(
        User.objects.filter(watching__ticket=ticket, watching__kind=WatcherKind.FOLLOWER).order_by("full_name", "email")
    )


def copied_in(ticket) -> list[Watcher]:
    """The people copied in on `ticket`, with who added them, in the order they were added."""
    return list(
        Watcher.objects.filter(ticket=ticket, kind=WatcherKind.CC).select_related("user", "added_by").order_by("pk")
    )


def watchers_of(ticket) -> tuple[list[User], list[Watcher]]:
    """`followers(ticket)` and `copied_in(ticket)` in one query (the desk shows both)."""
    rows = list(
        Watcher.objects.filter(ticket=ticket, kind__in=(WatcherKind.FOLLOWER, WatcherKind.CC))
        .select_related("user", "added_by")
        .order_by("user__full_name", "user__email", "pk")  # by name in the database's collation
    )
    following = [w.user for w in rows if w.kind == WatcherKind.FOLLOWER]
    return following, sorted((w for w in rows if w.kind == WatcherKind.CC), key=lambda w: w.pk)


def is_copied_in(ticket, user) -> bool:
    return Watcher.objects.filter(ticket=ticket, user=user, kind=WatcherKind.CC).exists()


def copied_in_condition(actor) -> Q:
    """For tickets.extensions.register_requester_access: the tickets `actor` was copied in on."""
    return Q(pk__in=Watcher.objects.filter(user=actor, kind=WatcherKind.CC).values("ticket_id"))
