"""ServiceNow incidents <-> Warden tickets, and write-back values. Pure (no ORM, no HTTP).

* `incident_from_row`: one Table API row (raw values, `sysparm_exclude_reference_link`
  or not) as an `Incident`, checked (a 32-hex sys_id, a number, sys_mod_count, times).
  The short description and description are kept only in full-content mode: in
  metadata-only mode they are not even asked for (`poll_fields`).
* `Incident.snapshot()`: what a link stores about its incident (metadata, plus the text
  in full-content mode).
* `ticket_*`: the Warden ticket an incident maps to (status, levels, title, resolution).
* `clean_changes`: the fields a write-back may set, with their values checked.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from apps.tickets.text import CONTROL_CHARS

from .query import parse_glide_time

SYS_ID = re.compile(r"^[0-9a-f]{32}$")

METADATA_FIELDS = (
    "sys_id", "number", "state", "priority", "impact", "urgency", "category", "assignment_group",
    "assignment_group.name", "caller_id.email", "close_code", "opened_at", "resolved_at", "closed_at",
    "sys_created_on", "sys_updated_on", "sys_mod_count",
)
CONTENT_FIELDS = ("short_description", "description")

# ServiceNow incident states -> Warden statuses.
STATES = {"1": "new", "2": "open", "3": "pending", "6": "resolved", "7": "closed", "8": "cancelled"}
STATE_LABELS = {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled"}
# Close codes (as words in their usual values) -> Warden resolution codes; default "fixed".
CLOSE_CODES = (("work around", "workaround"), ("workaround", "workaround"), ("not reproducible", "not_reproducible"),
               ("duplicate", "duplicate"), ("not solved", "wont_fix"), ("user error", "user_error"),
               ("training", "user_error"), ("caller", "answered"))


class RowInvalid(ValueError):
    """A row the Table API returned that cannot be an incident (skipped, counted)."""


def poll_fields(*, full_content: bool) -> tuple[str, ...]:
    return METADATA_FIELDS + (CONTENT_FIELDS if full_content else ())


def _value(row: dict[str, Any], name: str) -> str:
    value = row.get(name, "")
    if isinstance(value, dict):  # a reference with its link: {"link": ..., "value": sys_id}
        value = value.get("value", "")
    return "" if value is None else CONTROL_CHARS.sub(" ", str(value)).strip()  # Warden refuses control characters


@dataclass(frozen=True)
class Incident:
    sys_id: str
    number: str
    mod_count: int
    updated_on: datetime
    created_on: datetime | None = None
    state: str = ""
    priority: str = ""
    impact: str = ""
    urgency: str = ""
    category: str = ""
    assignment_group: str = ""
    assignment_group_name: str = ""
    caller_email: str = ""
    close_code: str = ""
    opened_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    short_description: str = ""
    description: str = ""
    full_content: bool = field(default=False, compare=False)

    def snapshot(self) -> dict[str, str]:
        """What Warden stores about the incident (JSON, strings): metadata, and the text
        only in full-content mode. The caller's email is used to find the requester and
        never stored."""
        data = {
            "state": self.state, "priority": self.priority, "impact": self.impact, "urgency": self.urgency,
            "category": self.category, "assignment_group": self.assignment_group,
            "assignment_group_name": self.assignment_group_name, "close_code": self.close_code,
            "opened_at": _iso(self.opened_at), "resolved_at": _iso(self.resolved_at), "closed_at": _iso(self.closed_at),
            "created_on": _iso(self.created_on),
        }
        if self.full_content:
            data["short_description"] = self.short_description
            data["description"] = self.description
        return data


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def _time(row: dict[str, Any], name: str) -> datetime | None:
    try:
        return parse_glide_time(_value(row, name))
    except ValueError as exc:
        raise RowInvalid(f"{name}: {exc}") from None


def incident_from_row(row: dict[str, Any], *, full_content: bool) -> Incident:
    if not isinstance(row, dict):
        raise RowInvalid("not an object")
    sys_id = _value(row, "sys_id")
    if not SYS_ID.match(sys_id):
        raise RowInvalid(f"sys_id {sys_id[:40]!r} is not 32 hex digits")
    number = _value(row, "number")
    if not number or len(number) > 40:
        raise RowInvalid(f"{sys_id}: no number")
    try:
        mod_count = int(_value(row, "sys_mod_count"))
    except ValueError:
        raise RowInvalid(f"{sys_id}: sys_mod_count is not a number") from None
    updated_on = _time(row, "sys_updated_on")
    if updated_on is None or mod_count < 0:
        raise RowInvalid(f"{sys_id}: no sys_updated_on")
    group = _value(row, "assignment_group")
    return Incident(
        sys_id=sys_id, number=number, mod_count=mod_count, updated_on=updated_on,
        created_on=_time(row, "sys_created_on"), state=_value(row, "state"), priority=_value(row, "priority"),
        impact=_value(row, "impact"), urgency=_value(row, "urgency"), category=_value(row, "category")[:100],
        assignment_group=group if SYS_ID.match(group) else "",
        assignment_group_name=_value(row, "assignment_group.name")[:100],
        caller_email=_value(row, "caller_id.email").lower()[:254], close_code=_value(row, "close_code")[:100],
        opened_at=_time(row, "opened_at"), resolved_at=_time(row, "resolved_at"), closed_at=_time(row, "closed_at"),
        short_description=_value(row, "short_description")[:1000] if full_content else "",
        description=_value(row, "description")[:60000] if full_content else "",
        full_content=full_content,
    )


# --- The Warden ticket of an incident ---------------------------------------------------------


def ticket_status(state: str) -> str:
    return STATES.get(state, "open")


def ticket_level(value: str) -> int:
    """ServiceNow impact/urgency (1 high .. 3 low) as a Warden level; 2 when unknown."""
    return int(value) if value in ("1", "2", "3") else 2


def ticket_title(incident: Incident) -> str:
    """`INC0010001` (metadata-only), `INC0010001: <short description>` (full content)."""
    if incident.full_content and incident.short_description:
        return f"{incident.number}: {' '.join(incident.short_description.split())}"[:200]
    return incident.number


def ticket_description(incident: Incident, *, max_bytes: int = 50 * 1024) -> str:
    """The description (full content only), cut to what a ticket takes."""
    if not incident.full_content:
        return ""
    data = incident.description.encode("utf-8")
    return incident.description if len(data) <= max_bytes else data[:max_bytes].decode("utf-8", "ignore")


def resolution_code(close_code: str) -> str:
    text = (close_code or "").lower()
    for words, code in CLOSE_CODES:
        if words in text:
            return code
    return "fixed"


def resolution_note(incident: Incident) -> str:
    return f"{STATE_LABELS.get(incident.state, 'Resolved')} in ServiceNow ({incident.number})."


def changed_fields(before: dict[str, str], incident: Incident) -> set[str]:
    """Which mapped incident fields differ from the stored snapshot."""
    after = incident.snapshot()
    return {key for key in ("state", "impact", "urgency", "category", "assignment_group_name", "short_description",
                            "description") if key in after and before.get(key, "") != after[key]}


# --- Write-back ---------------------------------------------------------------------------------

WRITABLE = ("assignment_group", "category", "priority", "impact", "urgency", "work_notes")
JOURNAL = frozenset({"work_notes"})
MAX_NOTE = 4000
_CATEGORY = re.compile(r"^[A-Za-z0-9_ .\-]{1,40}$")


class WriteInvalid(ValueError):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message, self.field = message, field


def clean_changes(changes: dict[str, Any]) -> dict[str, str]:
    """The changes a write-back may make, checked: only WRITABLE fields (ServiceNow would
    silently ignore an unknown one), values in their ranges. Sorted by field."""
    if not changes:
        raise WriteInvalid(_("Nothing to write."))
    clean: dict[str, str] = {}
    for name in sorted(changes):
        if name not in WRITABLE:
            message = _("%(field)s cannot be written back (allowed: %(allowed)s).")
            raise WriteInvalid(message % {"field": name, "allowed": ", ".join(WRITABLE)}, name)
        value = "" if changes[name] is None else str(changes[name]).strip()
        if name == "assignment_group" and not SYS_ID.match(value):
            raise WriteInvalid(_("The assignment group is a group's sys_id (32 hex digits)."), name)
        if name == "category" and not _CATEGORY.match(value):
            raise WriteInvalid(_("A category value is 1-40 letters, digits, spaces, _ . -."), name)
        if name == "priority" and value not in ("1", "2", "3", "4", "5"):
            raise WriteInvalid(_("Priority is 1 (critical) to 5 (planning)."), name)
        if name in ("impact", "urgency") and value not in ("1", "2", "3"):
            if name == "impact":
                raise WriteInvalid(_("Impact is 1 (high), 2 (medium) or 3 (low)."), name)
            raise WriteInvalid(_("Urgency is 1 (high), 2 (medium) or 3 (low)."), name)
        if name == "work_notes" and not 0 < len(value) <= MAX_NOTE:
            raise WriteInvalid(_("A work note has 1 to %(max)s characters.") % {"max": MAX_NOTE}, name)
        clean[name] = value
    return clean


def changes_digest(changes: dict[str, str]) -> str:
    text = json.dumps(changes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def idempotency_key(*, connector_id: int, ticket_id: int, changes: dict[str, str], version: int) -> str:
    """ticket + action (the fields and a digest of their values) + version (the
    sys_mod_count the write was decided on): the same write asked twice is one write."""
    action = "+".join(sorted(changes)) + ":" + changes_digest(changes)
    return f"servicenow:{connector_id}:ticket-{ticket_id}:{action}:v{version}"[:200]


def read_fields(changes: dict[str, str]) -> tuple[str, ...]:
    """What to read before writing: sys_mod_count and the current value of each field."""
    return ("sys_id", "sys_mod_count", *(name for name in sorted(changes) if name not in JOURNAL))


def prior_values(current: dict[str, Any], changes: dict[str, str]) -> dict[str, str]:
    return {name: _value(current, name) for name in sorted(changes) if name not in JOURNAL}


def undo_changes(*, writeback_id: int, number: str, prior: dict[str, str], written: dict[str, str],
                 reason: str) -> dict[str, str]:
    """The write that reverts a write-back: every field back to its prior value, and for a
    work note (a journal entry cannot be removed) a compensating work note."""
    changes = {name: prior.get(name, "") for name in written if name not in JOURNAL}
    if any(name in JOURNAL for name in written) or not changes:
        note = f"[Warden] Write-back #{writeback_id} on {number} was undone"
        if any(name in JOURNAL for name in written):
            note += ": disregard its work note"
        changes["work_notes"] = (note + (f" ({reason})" if reason else "") + ".")[:MAX_NOTE]
    return changes


def fields_changed_since(current: dict[str, Any], written: dict[str, str]) -> list[str]:
    """The written (non-journal) fields someone else changed since: empty when an undo may
    restore them without overwriting another person's change."""
    return sorted(name for name, value in written.items() if name not in JOURNAL and _value(current, name) != value)
