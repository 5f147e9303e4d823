"""Changes the desk makes to a ticket's fields: in place on the ticket page, and the
queue's "add tags" bulk action.

Every change is a call of `apps.tickets.services` (`ticket_update` for title, category,
impact/urgency and tags, `ticket_assign` for team and assignee): the service asks the
policies, checks the values, writes, records the audit event and emits the domain
events (the SLA clocks follow in the same transaction). What the desk adds is the
check that nobody else changed the field since the agent saw it:

* the ticket row is locked (`ticket_get_visible(for_update=True)`, the lock the services
  take) and the service is called inside that same transaction, so nothing can change
  the ticket between the check and the write;
* only the fields the agent changed are sent, so a change to another field saved
  meanwhile is kept (impact and urgency are sent separately; team and assignee
  together, since one constrains the other);
* a field the agent changed that somebody else also changed is refused (`EditConflict`,
  409) with its current value, and nothing is written; the form comes back with the
  agent's value and the new one as "seen", so saving again replaces it knowingly.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from apps.core.errors import Conflict
from apps.tickets import selectors, services
from apps.tickets.models import Ticket

from .forms import EditForm


class EditConflict(Conflict):
    """Somebody else changed a field the agent was editing (nothing was written)."""

    def __init__(self, message: str, *, errors: dict[str, list[str]], current: dict[str, str]):
        super().__init__(message, errors=errors)
        self.current = current


@dataclass
class EditResult:
    ticket: Ticket
    changed: list[str]  # the form fields sent to the service (empty: nothing to save)


def edit_save(*, actor, number: int, form: EditForm) -> EditResult:
    """Save a valid in-place edit form through the tickets services (see the module)."""
    with transaction.atomic():
        ticket = selectors.ticket_get_visible(actor=actor, number=number, for_update=True)
        current = form.values(ticket)
        changed = form.changed(current)
        if not changed:
            return EditResult(ticket=ticket, changed=[])
        moved = form.moved_meanwhile(current, changed)
        if moved:
            errors = {
                name: [_("Somebody else changed this while you were editing: it is now “%(value)s”. "
                         "Save again to replace it with your choice.")
                       % {"value": form.display(name, current[name]) or "—"}]
                for name in moved
            }
            raise EditConflict(_("Ticket #%(number)s changed while you were editing it.") % {"number": number},
                               errors=errors, current=current)
        kwargs = form.service_kwargs(changed)
        if form.service == "assign":
            ticket = services.ticket_assign(actor=actor, ticket=ticket, **kwargs)
        else:
            ticket = services.ticket_update(actor=actor, ticket=ticket, **kwargs)
    return EditResult(ticket=ticket, changed=changed)


def tags_add(*, actor, ticket: Ticket, names: list[str]) -> bool:
    """Add `names` to the ticket's tags (the queue's bulk action); False when it already
    had them all. The ticket's tags are read under its row lock, so a tag somebody else
    adds meanwhile is kept."""
    with transaction.atomic():
        locked = selectors.ticket_get_visible(actor=actor, number=ticket.number, for_update=True)
        current = sorted((tag.name for tag in locked.tags.all()), key=str.lower)
        known = {name.lower() for name in current}
        wanted = current + [name for name in dict.fromkeys(names) if name.lower() not in known]
        if len(wanted) == len(current):
            return False
        services.ticket_update(actor=actor, ticket=locked, tags=wanted)
    return True
