"""A deliberately slow, obviously-correct model of business time, for the property tests.

It shares no code with apps/sla/calendar.py:

* A shift's boundaries are found by scanning UTC minute by minute for the first minute
  at which the local wall clock shows the boundary or later (the documented rule),
  instead of reasoning about folds and gaps.
* Business time is counted one minute at a time: a minute is open when it lies in some
  shift occurrence whose start date is not a holiday.

Everything is on a whole-minute grid (shift boundaries, instants, pauses, durations), so
counting minutes is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holiday_data

MINUTE = timedelta(minutes=1)


@dataclass
class RefCalendar:
    zone: str
    shifts: list[tuple[int, time, time]]  # (weekday, start, end)
    always_open: bool = False
    country: str = ""
    subdivision: str = ""
    extra: set[date] = field(default_factory=set)

    def _holiday(self, day: date) -> bool:
        if day in self.extra:
            return True
        if self.country:
            return day in holiday_data.country_holidays(self.country, subdiv=self.subdivision or None, years=day.year)
        return False

    def _first_minute_showing(self, wall: datetime) -> datetime:
        tz = ZoneInfo(self.zone)
        t = wall.replace(tzinfo=UTC) - timedelta(hours=16)
        while t.astimezone(tz).replace(tzinfo=None) < wall:
            t += MINUTE
        return t

    def occurrences(self, low: datetime, high: datetime) -> list[tuple[datetime, datetime]]:
        """Open intervals of every shift starting within two days of [low, high]."""
        tz = ZoneInfo(self.zone)
        first = low.astimezone(tz).date() - timedelta(days=2)
        last = high.astimezone(tz).date() + timedelta(days=1)
        found = []
        day = first
        while day <= last:
            if not self._holiday(day):
                for weekday, start, end in self.shifts:
                    if weekday != day.weekday():
                        continue
                    start_wall = datetime.combine(day, start)
                    end_wall = datetime.combine(day if end > start else day + timedelta(days=1), end)
                    found.append((self._first_minute_showing(start_wall), self._first_minute_showing(end_wall)))
            day += timedelta(days=1)
        return found

    def open_minutes(self, low: datetime, high: datetime) -> list[bool]:
        """One flag per minute of [low, high)."""
        count = int((high - low) / MINUTE)
        if self.always_open:
            return [True] * count
        flags = [False] * count
        for start, end in self.occurrences(low, high):
            a = max(0, int((start - low) / MINUTE))
            b = min(count, int((end - low) / MINUTE))
            for i in range(a, b):
                flags[i] = True
        return flags


def ref_between(cal: RefCalendar, a: datetime, b: datetime) -> timedelta:
    return sum(cal.open_minutes(a, b)) * MINUTE


def ref_add(cal: RefCalendar, a: datetime, duration: timedelta, horizon: timedelta = timedelta(days=30)) -> datetime:
    minutes = int(duration / MINUTE)
    if minutes == 0:
        return a
    flags = cal.open_minutes(a, a + horizon)
    seen = 0
    for i, is_open in enumerate(flags):
        if is_open:
            seen += 1
            if seen == minutes:
                return a + (i + 1) * MINUTE
    raise AssertionError("horizon too short for the reference")


def ref_deadline(
    cal: RefCalendar,
    a: datetime,
    duration: timedelta,
    pauses: list[tuple[datetime, datetime | None]],
    horizon: timedelta = timedelta(days=30),
) -> datetime | None:
    minutes = int(duration / MINUTE)
    if minutes == 0:
        return a
    flags = cal.open_minutes(a, a + horizon)
    seen = 0
    for i, is_open in enumerate(flags):
        moment = a + i * MINUTE
        if any(p <= moment and (q is None or moment < q) for p, q in pauses):
            continue
        if is_open:
            seen += 1
            if seen == minutes:
                return moment + MINUTE
    if any(q is None for _p, q in pauses):
        return None
    raise AssertionError("horizon too short for the reference")
