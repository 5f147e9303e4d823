"""@mentions in comments: who may be named, how a name is written, how it is shown.

A person is mentioned as `@handle` (the local part of their email, when no other person
who may be mentioned shares it) or `@email`; `@FullNameWithoutSpaces` also works when it
names one person. Only people who may read the comment can be mentioned: agents and
admins, and the ticket's requester on a public reply (never on an internal note). Anything
else after an @ stays plain text, without an error.

A mention of a person is stored (`TicketComment.mentions`) and shown as a link (`mailto:`,
titled with the person's name) with the class `mention`; `render_markdown` draws it
outside code, so `@x` in a code span stays code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Lower, Replace

from apps.accounts.models import Role, User

from .models import Ticket

PATTERN = r"(?<![\w.@])@([A-Za-z0-9._%+\-]+(?:@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)?)"
_MENTION = re.compile(PATTERN)
SUGGESTIONS = 8


@dataclass(frozen=True)
class Mention:
    """How a mentioned person is drawn: the link's address and title."""

    email: str
    name: str


def clean_token(token: str) -> str:
    return token.rstrip(".-")


def parse_mentions(body: str) -> tuple[set[str], set[str]]:
    """(emails, names) mentioned in `body` as `@someone@example.com` or `@name`."""
    emails: set[str] = set()
    names: set[str] = set()
    for match in _MENTION.finditer(body or ""):
        token = clean_token(match.group(1))
        if "@" in token:
            emails.add(token.lower())
        elif token:
            names.add(token.lower())
    return emails, names


def mentionable(ticket: Ticket, *, internal: bool) -> QuerySet[User]:
    """The people a comment on `ticket` may mention: active agents and admins, and the
    requester on a public reply."""
    readers = Q(role__in=[Role.AGENT, Role.ADMIN])
    if not internal:
        readers |= Q(pk=ticket.requester_id)
    return User.objects.filter(is_active=True).filter(readers)


def resolve_mentions(*, body: str, ticket: Ticket, internal: bool) -> list[User]:
    """Users named in `body` who may read the comment (so nobody is told about a ticket,
    or an internal note, they cannot see). `@name` matches the email's local part or the
    full name without spaces; an ambiguous name matches nobody."""
    emails, names = parse_mentions(body)
    if not emails and not names:
        return []
    candidates = mentionable(ticket, internal=internal).annotate(
        compact=Lower(Replace("full_name", Value(" "), Value("")))
    )
    lookup = Q(email__in=sorted(emails))
    for name in sorted(names)[:20]:
        lookup |= Q(email__istartswith=f"{name}@") | Q(compact=name)
    found = list(candidates.filter(lookup)[:100])
    chosen: dict[int, User] = {}
    for user in found:
        if user.email.lower() in emails:
            chosen[user.pk] = user
    for name in names:
        matches = [u for u in found if u.email.lower().split("@", 1)[0] == name or u.compact == name]
        if len(matches) == 1:
            chosen[matches[0].pk] = matches[0]
    return sorted(chosen.values(), key=lambda u: u.pk)


def drawn(body: str, people: list[User]) -> dict[str, Mention]:
    """For `render_markdown`: each token of `body` that names one of `people` (as written,
    lower case) -> how to draw it."""
    if not people:
        return {}
    by_email = {u.email.lower(): u for u in people}
    tokens: dict[str, Mention] = {}
    for match in _MENTION.finditer(body or ""):
        token = clean_token(match.group(1)).lower()
        person = by_email.get(token)
        if person is None and "@" not in token:
            matches = [
                u for u in people
                if u.email.lower().split("@", 1)[0] == token or (u.full_name or "").replace(" ", "").lower() == token
            ]
            person = matches[0] if len(matches) == 1 else None
        if person is not None:
            tokens[token] = Mention(email=person.email, name=person.full_name or person.email)
    return tokens


def suggestions(ticket: Ticket, *, internal: bool, typed: str, limit: int = SUGGESTIONS) -> list[dict]:
    """What the composer offers after `@typed`: people who may be mentioned whose name or
    email starts with (or whose name contains) `typed`, each with the handle to insert
    (the email's local part when no other mentionable person shares it, else the email)."""
    typed = (typed or "").strip().lstrip("@").lower()[:60]
    people = mentionable(ticket, internal=internal)
    if typed:
        people = people.filter(Q(email__istartswith=typed) | Q(full_name__icontains=typed))
    found = list(people.order_by("full_name", "email")[:limit])
    locals_ = [u.email.lower().split("@", 1)[0] for u in found]
    shared = set(
        mentionable(ticket, internal=internal)
        .filter(Q(*[Q(email__istartswith=f"{local}@") for local in locals_], _connector=Q.OR) if locals_ else Q(pk=None))
        .exclude(pk__in=[u.pk for u in found])
        .values_list("email", flat=True)
    )
    taken = {e.lower().split("@", 1)[0] for e in shared}
    out = []
    for user, local in zip(found, locals_, strict=True):
        unique = local not in taken and locals_.count(local) == 1
        out.append({"handle": local if unique else user.email, "name": user.full_name or user.email, "email": user.email})
    return out
