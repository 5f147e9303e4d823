"""When a message may go out: at once (after a short burst window for email), after the
person's quiet hours, or at their digest's next hour or day. Pure: no ORM."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

IMMEDIATE, HOURLY, DAILY = "immediate", "hourly", "daily"
DIGEST_HOUR = time(8, 0)  # daily digests go out at 08:00 in the person's zone


def in_quiet_hours(moment: datetime, *, start: time | None, end: time | None, zone: ZoneInfo) -> datetime | None:
    """The end of the quiet hours `moment` falls in (aware), or None. Quiet hours may span
    midnight (22:00-07:00); equal ends mean none."""
    if start is None or end is None or start == end:
        return None
    local = moment.astimezone(zone)
    now = local.time()
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)


def send_after(
    now: datetime,
    *,
    digest: str = IMMEDIATE,
    quiet_from: time | None = None,
    quiet_until: time | None = None,
    zone: ZoneInfo,
    burst_seconds: int = 0,
) -> datetime:
    """The earliest moment a message created at `now` may go out."""
    if digest == HOURLY:
        at = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    elif digest == DAILY:
        local = now.astimezone(zone)
        day = local.date() if local.time() < DIGEST_HOUR else local.date() + timedelta(days=1)
        at = datetime.combine(day, DIGEST_HOUR, tzinfo=zone)
    else:
        at = now + timedelta(seconds=burst_seconds)
    quiet_end = in_quiet_hours(at, start=quiet_from, end=quiet_until, zone=zone)
    return quiet_end if quiet_end is not None else at
