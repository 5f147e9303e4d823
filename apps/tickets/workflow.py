"""The ticket workflow: which role may move a ticket from which status to which.

Pure Python, no ORM: the ONE map every caller (API, UI, admin, tasks, connectors) goes
through via `check_transition()`. Policies then decide per object (a requester only on
their own tickets); this map decides what is meaningful at all.

    new ──► open ◄──► pending
     │       │  ╲        │
     │       ▼   ╲       ▼
     └──► resolved ◄─────┘        resolved ──► open   (reopen: reason, cooldown)
             │                    resolved ──► closed
             ▼
           closed                 new/open/pending ──► cancelled
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy

from apps.core.errors import ApplicationError, Conflict, PermissionDenied

NEW = "new"
OPEN = "open"
PENDING = "pending"
RESOLVED = "resolved"
CLOSED = "closed"
CANCELLED = "cancelled"
STATUSES = (NEW, OPEN, PENDING, RESOLVED, CLOSED, CANCELLED)
TERMINAL = frozenset({CLOSED, CANCELLED})
ACTIVE = frozenset({NEW, OPEN, PENDING})

REQUESTER = "requester"
AGENT = "agent"
ADMIN = "admin"
ROLES = (REQUESTER, AGENT, ADMIN)

# How messages name a status or a role: the lower-case word in English ("The ticket is
# already resolved."), translated (a status is an adjective agreeing with "zgłoszenie").
STATUS_WORDS = {
    NEW: pgettext_lazy("ticket status in a sentence", "new"),
    OPEN: pgettext_lazy("ticket status in a sentence", "open"),
    PENDING: pgettext_lazy("ticket status in a sentence", "pending"),
    RESOLVED: pgettext_lazy("ticket status in a sentence", "resolved"),
    CLOSED: pgettext_lazy("ticket status in a sentence", "closed"),
    CANCELLED: pgettext_lazy("ticket status in a sentence", "cancelled"),
}
ROLE_WORDS = {
    REQUESTER: pgettext_lazy("role in a sentence", "requester"),
    AGENT: pgettext_lazy("role in a sentence", "agent"),
    ADMIN: pgettext_lazy("role in a sentence", "admin"),
}


def status_word(status: str) -> str:
    """The status as a word for messages ("resolved"), in the active language."""
    word = STATUS_WORDS.get(status)
    return str(word) if word is not None else str(status)

_AGENT_MAP: dict[str, frozenset[str]] = {
    NEW: frozenset({OPEN, PENDING, RESOLVED, CANCELLED}),
    OPEN: frozenset({PENDING, RESOLVED, CANCELLED}),
    PENDING: frozenset({OPEN, RESOLVED, CANCELLED}),
    RESOLVED: frozenset({OPEN, CLOSED}),
    CLOSED: frozenset(),
    CANCELLED: frozenset(),
}

# role -> from -> allowed targets. Requesters act on their own tickets only (policies).
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    REQUESTER: {
        NEW: frozenset({CANCELLED}),
        OPEN: frozenset({CANCELLED}),
        PENDING: frozenset({OPEN, CANCELLED}),
        RESOLVED: frozenset({OPEN}),
        CLOSED: frozenset(),
        CANCELLED: frozenset(),
    },
    AGENT: _AGENT_MAP,
    ADMIN: _AGENT_MAP,
}


@dataclass(frozen=True)
class Requirements:
    """What the caller must supply for one transition."""

    reason: bool = False
    resolution: bool = False  # resolution_code and resolution_note
    reopen: bool = False  # counts as a reopen (cooldown applies)


def requirements(current: str, target: str) -> Requirements:
    if current == RESOLVED and target == OPEN:
        return Requirements(reason=True, reopen=True)
    if target == RESOLVED:
        return Requirements(resolution=True)
    if target == CANCELLED:
        return Requirements(reason=True)
    return Requirements()


def allowed_targets(role: str, current: str) -> frozenset[str]:
    return TRANSITIONS.get(role, {}).get(current, frozenset())


def is_allowed(role: str, current: str, target: str) -> bool:
    return target in allowed_targets(role, current)


class InvalidTransition(Conflict):
    status = 409
    title = gettext_lazy("Invalid transition")


def check_transition(*, role: str, current: str, target: str) -> Requirements:
    """Requirements of `current -> target` for `role`, or an error saying why not.

    Unknown status: 400 (field error). Known but not allowed for anyone from here: 409.
    Allowed for agents but not for this role: 403.
    """
    if target not in STATUSES:
        raise ApplicationError(
            _("Unknown status %(status)r.") % {"status": target},
            errors={"to": [_("Use one of: %(statuses)s.") % {"statuses": ", ".join(STATUSES)}]},
        )
    words = {"current": status_word(current), "target": status_word(target)}
    if target == current:
        message = _("The ticket is already %(current)s.") % words
        raise InvalidTransition(message, errors={"to": [message]})
    if is_allowed(role, current, target):
        return requirements(current, target)
    if any(is_allowed(other, current, target) for other in ROLES):
        role_word = ROLE_WORDS.get(role, role)
        raise PermissionDenied(
            _("A %(role)s cannot move a ticket from %(current)s to %(target)s.") % {**words, "role": role_word}
        )
    allowed = sorted(set().union(*(allowed_targets(r, current) for r in ROLES)))
    if allowed:
        hint = _("From %(current)s a ticket can go to: %(allowed)s.") % {
            **words, "allowed": ", ".join(status_word(s) for s in allowed)}
    else:
        hint = pgettext("ticket status", "%(current)s is final.") % words
    raise InvalidTransition(
        _("A ticket cannot go from %(current)s to %(target)s. %(hint)s") % {**words, "hint": hint},
        errors={"to": [hint]},
    )
