"""Time zones: which names are valid, how a person picks one, and how a moment reads.

Pure helpers (no app, no ORM). Who sees which zone is decided in `apps.accounts.zones`
(the person's own zone, else the organisation's); the request middleware there activates
it, so `django.utils.timezone.localtime()` and the `date` filter already answer in the
viewer's zone. The abbreviation (CET, CEST, EST, JST, UTC, or "+04" where the tz
database has no letters) comes with every date and time shown: `DATETIME_FORMAT` and
`SHORT_DATETIME_FORMAT` end in "T" (config/formats), and `wall_clock()` below ends in it.

    wall_clock(clock.due_at)         "tomorrow 09:00 CET", "today 17:00 CEST", "Thu 09:00 EST",
                                     "24 Nov 09:00 CET", "3 Jan 2028 09:00 CET"
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime, tzinfo

from django.core.exceptions import ValidationError
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# The areas offered in a picker (IANA "Area/Location" names). The tz database also has
# legacy names (US/Eastern, Poland, EST5EDT, Etc/GMT+5): still valid when stored, never
# offered.
AREAS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
UTC_NAME = "UTC"


@functools.cache
def zone_names() -> frozenset[str]:
    """Every IANA name this machine's tz database knows (what may be stored)."""
    return frozenset(zoneinfo.available_timezones()) | {UTC_NAME}


def is_zone(name: object) -> bool:
    return isinstance(name, str) and name in zone_names()


def validate_time_zone(value: str) -> None:
    """Model and form validator: an IANA name such as Europe/Warsaw (empty is the field's
    business: `blank=True` fields skip validators for "")."""
    if not is_zone(value):
        raise ValidationError(
            gettext_lazy("Unknown time zone %(name)s: use an IANA name such as Europe/Warsaw."),
            code="unknown_time_zone",
            params={"name": repr(value)},
        )


def zone(name: str) -> tzinfo:
    """The tzinfo for a valid name (`is_zone`); UTC for anything else."""
    return zoneinfo.ZoneInfo(name if is_zone(name) else UTC_NAME)


@functools.cache
def _offered() -> tuple[str, ...]:
    return tuple(sorted(n for n in zone_names() if n.split("/", 1)[0] in AREAS and "/" in n))


def offset_label(name: str, moment: datetime | None = None) -> str:
    """"UTC+01:00" (the zone's offset at `moment`, default now)."""
    offset = (moment or timezone.now()).astimezone(zone(name)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "\u2212"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def zone_choices(*, current: str = "", moment: datetime | None = None) -> list:
    """Choices for a `<select>`: UTC, then one group per area ("Europe": "Warsaw
    (UTC+01:00)", ...), sorted by name. A stored legacy name (`current`) that the groups
    do not offer is listed first, so that a form shows what is stored and saves it back
    unchanged."""
    moment = moment or timezone.now()
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in _offered():
        area, location = name.split("/", 1)
        groups.setdefault(area, []).append((name, f"{location.replace('_', ' ')} ({offset_label(name, moment)})"))
    choices: list = []
    if current and current != UTC_NAME and is_zone(current) and current not in _offered():
        choices.append((current, f"{current} ({offset_label(current, moment)})"))
    choices.append((UTC_NAME, f"{UTC_NAME} (UTC+00:00)"))
    choices.extend((area, groups[area]) for area in AREAS if area in groups)
    return choices


def abbreviation(moment: datetime | None = None, name: str | None = None) -> str:
    """The zone's abbreviation at `moment` (default now): CET in winter, CEST in summer.
    `name` None: the active zone (the viewer's, in a request)."""
    local = timezone.localtime(moment or timezone.now(), zone(name) if name else None)
    return local.tzname() or ""


def wall_clock(moment: datetime, *, now: datetime | None = None, name: str | None = None) -> str:
    """A moment as a person reads it on a clock in their zone, relative to their today:
    "today 17:00 CET", "tomorrow 09:00 CET", "yesterday 16:30 CET", a weekday for the next
    days ("Thu 09:00 CET"), else the date ("24 Nov 09:00 CET"; with the year when it is not
    this year's). `name` None: the active zone."""
    tz = zone(name) if name else timezone.get_current_timezone()
    local = timezone.localtime(moment, tz)
    today = timezone.localtime(now or timezone.now(), tz).date()
    days = (local.date() - today).days
    clock = f"{formats.date_format(local, 'H:i')} {local.tzname()}"
    if days == 0:
        return _("today %(time)s") % {"time": clock}
    if days == 1:
        return _("tomorrow %(time)s") % {"time": clock}
    if days == -1:
        return _("yesterday %(time)s") % {"time": clock}
    if 1 < days < 7:
        return _("%(weekday)s %(time)s") % {"weekday": formats.date_format(local, "D"), "time": clock}
    day = formats.date_format(local, "j M" if local.year == today.year else "j M Y")
    return _("%(day)s %(time)s") % {"day": day, "time": clock}


def full(moment: datetime) -> str:
    """The moment in full, in the active zone, with the abbreviation (DATETIME_FORMAT)."""
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
