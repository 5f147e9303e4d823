"""Business-time arithmetic. Pure Python: no ORM, no settings, no I/O.

A `Calendar` says when the clock of an SLA runs: either always (24x7) or during weekly
shifts in one time zone, except on holidays. Everything here works on aware datetimes
and is exact to the microsecond (integers internally).

Definitions (docs/sla.md repeats them for admins):

* A shift belongs to the weekday it STARTS on and lasts from `start` to `end` local wall
  time; `end <= start` means it ends the next day (22:00-06:00), `end == start` is a
  24-hour shift.
* A wall time maps to the FIRST instant at which the local clock shows that time or a
  later one. Outside daylight-saving changes that is the obvious instant. A time that
  does not exist (02:30 when clocks jump from 02:00 to 03:00) maps to the jump itself;
  a time that exists twice (02:30 when clocks fall back from 03:00 to 02:00) maps to its
  first occurrence. Business time is real elapsed time inside the resulting intervals,
  so a 22:00-06:00 shift lasts 7 h on the spring night and 9 h on the autumn night.
* A holiday (from the `holidays` package by country and subdivision, plus custom dates)
  cancels every shift that STARTS on that local date; a night shift that started the
  evening before still runs to its end.
* `add(start, d)` is the earliest instant `t` with `between(start, t) == d`; adding zero
  returns `start` itself, even outside business hours.
* Pauses (`deadlines`, `active_between`) are half-open real-time intervals during which
  business time does not count.
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "Calendar",
    "CalendarError",
    "Shift",
    "TWENTY_FOUR_SEVEN",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
SECOND = 1_000_000
FOREVER = 2**62
# A calendar that finds no business hour for this many consecutive days is broken
# (every day a holiday): refuse instead of looping for ever.
MAX_EMPTY_DAYS = 3 * 366
# Timelines never span more than this (a date in year 9999 is a bug, not a deadline).
MAX_SPAN_DAYS = 200 * 366


class CalendarError(ValueError):
    """The calendar cannot answer: no business hours at all, or a naive datetime."""


def to_us(moment: datetime) -> int:
    zone = moment.tzinfo
    if zone is not UTC:
        if getattr(zone, "key", None) == "UTC":  # ZoneInfo("UTC") from the database: same instant, cheaper maths
            moment = moment.replace(tzinfo=UTC)
        elif zone is None or moment.utcoffset() is None:
            raise CalendarError(f"aware datetimes only, got naive {moment!r}")
    return (moment - EPOCH) // US


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def _delta_us(value: timedelta | int | float) -> int:
    """A duration in microseconds: a timedelta, or a number of seconds."""
    if isinstance(value, timedelta):
        return value // US
    if isinstance(value, int):
        return value * SECOND
    return round(value * SECOND)


@dataclass(frozen=True)
class Shift:
    weekday: int  # 0 = Monday ... 6 = Sunday, the day the shift starts
    start: time
    end: time  # <= start: the next day; == start: 24 hours

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise CalendarError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday}")

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def minutes(self) -> tuple[int, int]:
        """(start, end) in minutes from the start of the week, end exclusive (may exceed a week)."""
        start = self.weekday * 1440 + self.start.hour * 60 + self.start.minute
        length = (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)
        if length <= 0:
            length += 1440
        return start, start + length


@functools.lru_cache(maxsize=512)
def _country_holidays(country: str, subdivision: str, year: int) -> frozenset[date]:
    import holidays

    found = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    return frozenset(found.keys())


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, eq=False)
class Calendar:
    """When an SLA clock runs. Build one per stored calendar and reuse it: it caches the
    business intervals of every day it has computed (the cache is never shared)."""

    timezone: str = "UTC"
    shifts: tuple[Shift, ...] = ()
    always_open: bool = False
    country: str = ""
    subdivision: str = ""
    extra_holidays: frozenset[date] = frozenset()
    _days: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            _zone(self.timezone)
        except (KeyError, ValueError) as exc:
            raise CalendarError(f"unknown time zone {self.timezone!r}") from exc
        if not self.always_open and not self.shifts:
            raise CalendarError("a calendar needs business hours or must be 24x7")
        object.__setattr__(self, "shifts", tuple(sorted(self.shifts, key=lambda s: (s.weekday, s.start))))
        by_day: list[list[Shift]] = [[] for _ in range(7)]
        for shift in self.shifts:
            by_day[shift.weekday].append(shift)
        object.__setattr__(self, "_by_day", tuple(tuple(day) for day in by_day))
        object.__setattr__(self, "_timeline", None)

    # --- Holidays and days ------------------------------------------------------------------

    def is_holiday(self, day: date) -> bool:
        if day in self.extra_holidays:
            return True
        if self.country:
            return day in _country_holidays(self.country, self.subdivision, day.year)
        return False

    def _resolve(self, wall: datetime) -> int:
        """The first instant at which the local clock shows `wall` or later (microseconds)."""
        zone = _zone(self.timezone)
        early = wall.replace(tzinfo=zone, fold=0)
        late = wall.replace(tzinfo=zone, fold=1)
        early_offset, late_offset = early.utcoffset(), late.utcoffset()
        if early_offset == late_offset:
            return to_us(early)
        first, second = sorted((to_us(early), to_us(late)))
        if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
            return first  # it exists twice: its first occurrence
        # It does not exist: the clock jumps over it somewhere in [first, second]. Find the
        # jump (offsets change on whole seconds) by bisection.
        low, high = first // SECOND, second // SECOND + 1
        before = from_us(low * SECOND).astimezone(zone).utcoffset()
        while high - low > 1:
            middle = (low + high) // 2
            if from_us(middle * SECOND).astimezone(zone).utcoffset() == before:
                low = middle
            else:
                high = middle
        return high * SECOND

    def day(self, day: date) -> tuple[tuple[int, int], ...]:
        """Business intervals of the shifts starting on local date `day` (microseconds,
        half open, sorted by start)."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        intervals: list[tuple[int, int]] = []
        if not self.is_holiday(day):
            for shift in self._by_day[day.weekday()]:  # type: ignore[attr-defined]
                start_wall = datetime.combine(day, shift.start)
                end_wall = datetime.combine(day, shift.end)
                if shift.overnight:
                    end_wall += timedelta(days=1)
                start, end = self._resolve(start_wall), self._resolve(end_wall)
                if end > start:
                    intervals.append((start, end))
        intervals.sort()
        result = tuple(intervals)
        if len(self._days) > 20_000:
            self._days.clear()
        self._days[day] = result
        return result

    def _local_date(self, moment_us: int) -> date:
        return from_us(moment_us).astimezone(_zone(self.timezone)).date()

    # --- The timeline: merged intervals with prefix sums, answered by bisection ------------------

    def _build(self, first: date, last: date) -> _Timeline:
        if (last - first).days > MAX_SPAN_DAYS:
            raise CalendarError(f"cannot compute across more than {MAX_SPAN_DAYS} days ({first} to {last})")
        starts: list[int] = []
        ends: list[int] = []
        day = first - timedelta(days=1)  # a night shift of the day before reaches into `first`
        while day < last:
            for start, end in self.day(day):
                if starts and start <= ends[-1]:
                    if end > ends[-1]:
                        ends[-1] = end
                else:
                    starts.append(start)
                    ends.append(end)
            day += timedelta(days=1)
        lo = self._resolve(datetime.combine(first, time()))
        gap = MAX_EMPTY_DAYS * 86_400 * SECOND
        for before, after in zip([lo, *ends], starts, strict=False):
            if after - before > gap:
                raise CalendarError(f"no business hours for {MAX_EMPTY_DAYS} days after {from_us(before)}")
        cum: list[int] = []
        cumend: list[int] = []
        total = 0
        for start, end in zip(starts, ends, strict=True):
            cum.append(total)
            total += end - start
            cumend.append(total)
        timeline = _Timeline(
            first=first,
            last=last,
            lo=lo,
            hi=self._resolve(datetime.combine(last, time())),
            starts=starts,
            ends=ends,
            cum=cum,
            cumend=cumend,
        )
        object.__setattr__(self, "_timeline", timeline)  # later calls start from this one
        return timeline

    def _span(self, low: int, high: int) -> _Timeline:
        """A timeline valid for every instant in [low, high]."""
        current = self._timeline  # type: ignore[attr-defined]
        if current is not None and current.lo <= low and high <= current.hi:
            return current
        if self.always_open:
            return _ALWAYS
        first, last = self._local_date(low) - timedelta(days=7), self._local_date(high) + timedelta(days=60)
        if current is not None:
            width = current.last - current.first
            first = current.first if low >= current.lo else min(first, current.first - width)
            last = current.last if high <= current.hi else max(last, current.last + width)
        return self._build(first, last)

    def _inverse(self, timeline: _Timeline, value: int) -> int:
        """The earliest instant x with B(x) == value, extending the timeline forward as
        needed (same first day, so B keeps its origin)."""
        latest = self._timeline  # type: ignore[attr-defined]
        if latest is not None and latest.first == timeline.first and latest.last > timeline.last:
            timeline = latest  # already extended by an earlier call
        empty = 0
        while True:
            found = timeline.inverse(value)
            if found is not None:
                return found
            before = timeline.cumend[-1] if timeline.cumend else 0
            width = max(timeline.last - timeline.first, timedelta(days=60))
            timeline = self._build(timeline.first, timeline.last + width)
            if (timeline.cumend[-1] if timeline.cumend else 0) == before:
                empty += width.days
                if empty > MAX_EMPTY_DAYS:
                    raise CalendarError(f"no business hours for {MAX_EMPTY_DAYS} days after {timeline.first}")
            else:
                empty = 0

    # --- The arithmetic ------------------------------------------------------------------------

    def is_open(self, moment: datetime) -> bool:
        if self.always_open:
            return True
        at = to_us(moment)
        timeline = self._span(at, at)
        index = bisect_right(timeline.starts, at) - 1
        return index >= 0 and at < timeline.ends[index]

    def intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Business intervals inside [start, end), clipped."""
        low, high = to_us(start), to_us(end)
        if high <= low:
            return []
        if self.always_open:
            return [(start, end)]
        timeline = self._span(low, high)
        found = []
        index = bisect_right(timeline.ends, low)
        while index < len(timeline.starts) and timeline.starts[index] < high:
            found.append((from_us(max(timeline.starts[index], low)), from_us(min(timeline.ends[index], high))))
            index += 1
        return found

    def _between_us(self, low: int, high: int) -> int:
        if high < low:
            return -self._between_us(high, low)
        timeline = self._span(low, high)
        return timeline.b(high) - timeline.b(low)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time from `start` to `end` (negative when `end` is earlier)."""
        return timedelta(microseconds=self._between_us(to_us(start), to_us(end)))

    def seconds_between(self, start: datetime, end: datetime) -> float:
        return self._between_us(to_us(start), to_us(end)) / SECOND

    def _add_us(self, low: int, amount: int) -> int:
        if amount <= 0:
            if amount < 0:
                raise CalendarError("cannot add a negative business duration")
            return low
        timeline = self._span(low, low)
        return self._inverse(timeline, timeline.b(low) + amount)

    def add(self, start: datetime, duration: timedelta | int | float) -> datetime:
        """The earliest instant at which `duration` of business time has passed since `start`.
        `duration` is a timedelta or a number of seconds."""
        return from_us(self._add_us(to_us(start), _delta_us(duration)))

    def add_seconds(self, start: datetime, seconds: int | float) -> datetime:
        return self.add(start, seconds)

    # --- Pauses ---------------------------------------------------------------------------------

    @staticmethod
    def _segments(low: int, pauses: Sequence[tuple[datetime, datetime | None]]) -> tuple[list[tuple[int, int]], int | None]:
        """The active stretches from `low` on between the pauses: (closed stretches, start
        of the open-ended last one, or None when an open pause stops the clock)."""
        cuts: list[list[int]] = []
        for pause_start, pause_end in sorted(
            ((to_us(a), FOREVER if b is None else to_us(b)) for a, b in pauses), key=lambda p: p[0]
        ):
            if pause_end <= low or pause_end <= pause_start:
                continue
            pause_start = max(pause_start, low)
            if cuts and pause_start <= cuts[-1][1]:
                cuts[-1][1] = max(cuts[-1][1], pause_end)
            else:
                cuts.append([pause_start, pause_end])
        stretches: list[tuple[int, int]] = []
        cursor = low
        for pause_start, pause_end in cuts:
            if pause_start > cursor:
                stretches.append((cursor, pause_start))
            if pause_end >= FOREVER:
                return stretches, None
            cursor = pause_end
        return stretches, cursor

    def deadlines(
        self,
        start: datetime,
        durations: Sequence[timedelta | int | float],
        pauses: Sequence[tuple[datetime, datetime | None]] = (),
    ) -> list[datetime | None]:
        """For each duration, the earliest instant at which that much active business time
        has passed since `start`, pauses excluded; None when an open-ended pause (one
        whose end is None) stops the clock before it is reached. A duration is a
        timedelta or a number of seconds."""
        return self.deadlines_us(start, [_delta_us(d) for d in durations], pauses)

    def deadlines_us(
        self,
        start: datetime,
        wanted: Sequence[int],
        pauses: Sequence[tuple[datetime, datetime | None]] = (),
    ) -> list[datetime | None]:
        """`deadlines()` with the durations in whole microseconds (the fast path)."""
        low = to_us(start)
        if any(w < 0 for w in wanted):
            raise CalendarError("cannot add a negative business duration")
        result: list[datetime | None] = [None] * len(wanted)
        if not pauses:  # the common case: one bisection per duration
            timeline = self._span(low, low)
            base = timeline.b(low)
            inverse = timeline.inverse
            for index, amount in enumerate(wanted):
                if amount == 0:
                    result[index] = start
                    continue
                found = inverse(base + amount)
                if found is None:
                    found = self._inverse(timeline, base + amount)
                result[index] = EPOCH + timedelta(microseconds=found)
            return result
        order = sorted(range(len(wanted)), key=wanted.__getitem__)
        position = 0
        while position < len(order) and wanted[order[position]] == 0:
            result[order[position]] = start
            position += 1
        if position == len(order):
            return result
        stretches, tail = self._segments(low, pauses)
        high = max([low, *(end for _s, end in stretches), *([tail] if tail is not None else [])])
        timeline = self._span(low, high)
        used = 0
        for stretch_start, stretch_end in stretches:
            base = timeline.b(stretch_start)
            available = timeline.b(stretch_end) - base
            while position < len(order) and wanted[order[position]] - used <= available:
                index = order[position]
                result[index] = from_us(self._inverse(timeline, base + wanted[index] - used))
                position += 1
            used += available
        if tail is not None:
            base = timeline.b(tail)
            while position < len(order):
                index = order[position]
                result[index] = from_us(self._inverse(timeline, base + wanted[index] - used))
                position += 1
        return result

    def active_between(
        self,
        start: datetime,
        end: datetime,
        pauses: Sequence[tuple[datetime, datetime | None]] = (),
    ) -> timedelta:
        """Business time from `start` to `end` outside the pauses (zero if end <= start)."""
        low, high = to_us(start), to_us(end)
        if high <= low:
            return timedelta(0)
        stretches, tail = self._segments(low, pauses)
        if tail is not None:
            stretches.append((tail, high))
        timeline = self._span(low, high)
        total = 0
        for stretch_start, stretch_end in stretches:
            stretch_end = min(stretch_end, high)
            if stretch_end > stretch_start:
                total += timeline.b(stretch_end) - timeline.b(stretch_start)
        return timedelta(microseconds=total)


@dataclass(frozen=True)
class _Timeline:
    """Merged business intervals of the shifts starting on local days [first, last), with
    prefix sums. B(x) is the business time from the first interval's start to x; it is
    exact for instants in [lo, hi] (and for any instant inside a stored interval)."""

    first: date
    last: date
    lo: int
    hi: int
    starts: list[int]
    ends: list[int]
    cum: list[int]  # business time before interval i
    cumend: list[int]  # business time up to the end of interval i

    def b(self, moment: int) -> int:
        index = bisect_right(self.starts, moment) - 1
        if index < 0:
            return 0
        end = self.ends[index]
        return self.cum[index] + (moment if moment < end else end) - self.starts[index]

    def inverse(self, value: int) -> int | None:
        """The earliest instant with B == value (value > 0), or None beyond the stored days."""
        index = bisect_left(self.cumend, value)
        if index == len(self.cumend):
            return None
        return self.starts[index] + (value - self.cum[index])


class _AlwaysOpen:
    """The timeline of a 24x7 calendar: B is the identity."""

    lo, hi = -FOREVER, FOREVER
    first = last = None

    @staticmethod
    def b(moment: int) -> int:
        return moment

    @staticmethod
    def inverse(value: int) -> int:
        return value


_ALWAYS = _AlwaysOpen()


TWENTY_FOUR_SEVEN = Calendar(always_open=True)


def shifts_overlap(shifts: Sequence[Shift]) -> list[tuple[Shift, Shift]]:
    """Pairs of shifts whose weekly wall-time ranges overlap (the week wraps around)."""
    week = 7 * 1440
    spans = []
    for shift in shifts:
        start, end = shift.minutes()
        spans.append((start, end, shift))
        if end > week:
            spans.append((start - week, end - week, shift))
    spans.sort(key=lambda item: item[0])
    clashes: list[tuple[Shift, Shift]] = []
    for i, (_start_a, end_a, a) in enumerate(spans):
        for start_b, _end_b, b in spans[i + 1 :]:
            if start_b >= end_a:
                break
            if a is not b and (b, a) not in clashes and (a, b) not in clashes:
                clashes.append((a, b))
    return clashes
