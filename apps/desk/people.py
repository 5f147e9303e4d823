"""How the desk names people: the full name, with the email address on hover.

Everywhere a person appears on a desk page (requester, assignee, the author of a
comment, who changed what in the timeline) it is the same markup:
``<span class="person" title="ana@example.com">Ana Nowak</span>``; someone without a
full name is their email address (no hover needed). Audit events name their actor by
id (`actor_id`) and a label written at the time (the email): the label is only the
fallback for someone who no longer exists, and ids (`user:12`) are never shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from .lookups import users_by_id

SYSTEM_LABELS = frozenset({"system", ""})


@dataclass(frozen=True)
class Person:
    name: str
    email: str = ""

    def __str__(self) -> str:
        return self.name

    @property
    def html(self) -> SafeString:
        """The person's name in a `person` span, the email address as its title (escaped)."""
        if self.email and self.email != self.name:
            return format_html('<span class="person" title="{}">{}</span>', self.email, self.name)
        return format_html('<span class="person">{}</span>', self.name)


def person(user) -> Person | None:
    """A user as the desk names them (None stays None)."""
    if user is None:
        return None
    email = getattr(user, "email", "") or ""
    return Person(name=getattr(user, "full_name", "") or email or str(user), email=email)


def system() -> Person:
    return Person(name=_("Warden (automatic)"))


def from_label(label: str) -> Person:
    """Who did it, when the user row is gone: the label the audit event kept (an email),
    never an internal id."""
    label = (label or "").strip()
    if label in SYSTEM_LABELS or label.startswith(("platform:", "integration:")):
        return system() if label in SYSTEM_LABELS else Person(name=label.split(":", 1)[1] or label)
    if label.startswith("user:") or label == "anonymous":
        return Person(name=_("a former user"))
    return Person(name=label, email=label if "@" in label else "")


class People:
    """People by id, loaded in one query for everything a page names."""

    def __init__(self, ids: Iterable[int | None] = ()):
        wanted = {pk for pk in ids if isinstance(pk, int)}
        self._by_id = {pk: person(user) for pk, user in users_by_id(wanted).items()} if wanted else {}

    def get(self, pk: int | None) -> Person | None:
        """The person `pk` (None: nobody)."""
        if pk is None:
            return None
        return self._by_id.get(pk) or Person(name=_("a former user"))

    def actor(self, pk: int | None, label: str) -> Person:
        """Who did an audited change: the user `pk`, else what the event's `label` says."""
        if pk is not None and pk in self._by_id:
            return self._by_id[pk]
        return from_label(label)
