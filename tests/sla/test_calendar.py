"""Business-time arithmetic (apps/sla/calendar.py): properties against the slow
minute-by-minute reference (tests/sla/reference.py), then worked examples of DST,
holidays, overnight shifts and pauses. Pure: no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from apps.sla.calendar import Calendar, CalendarError, Shift, shifts_overlap

from .reference import RefCalendar, ref_add, ref_between, ref_deadline

WARSAW = ZoneInfo("Europe/Warsaw")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)
M = timedelta(minutes=1)

# --- Strategies ---------------------------------------------------------------------------------

ZONES = {
    "Europe/Warsaw": ("PL", "", [date(2024, 3, 31), date(2024, 10, 27), date(2025, 3, 30), date(2025, 10, 26)]),
    "America/New_York": ("US", "NY", [date(2024, 3, 10), date(2024, 11, 3), date(2025, 3, 9), date(2025, 11, 2)]),
    "UTC": ("", "", [date(2024, 12, 24)]),
    "Asia/Kolkata": ("", "", [date(2025, 1, 26)]),
}
# Shift starts at the DST-sensitive hours come up often on purpose.
minute_of_day = st.one_of(
    st.integers(0, 1439),
    st.sampled_from([0, 60, 90, 120, 150, 179, 180, 210, 1320, 1380]),
)
shift_strategy = st.tuples(
    st.integers(0, 6),
    minute_of_day,
    st.one_of(st.integers(1, 1440), st.sampled_from([60, 480, 510, 600, 1440])),
)


def _time(minutes: int) -> time:
    return time((minutes // 60) % 24, minutes % 60)


@st.composite
def calendars(draw):
    zone = draw(st.sampled_from(sorted(ZONES)))
    country, subdivision, transitions = ZONES[zone]
    raw = draw(st.lists(shift_strategy, min_size=1, max_size=5))
    shifts = [(wd, _time(start), _time(start + length)) for wd, start, length in raw]
    always_open = draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans())  # ~1 in 8
    use_country = draw(st.booleans())
    base = draw(st.one_of(st.sampled_from(transitions), st.dates(date(2024, 1, 1), date(2026, 12, 31))))
    extra = set(draw(st.lists(st.integers(-3, 10), max_size=3)))
    extra_days = {base + timedelta(days=d) for d in extra}
    kwargs = dict(always_open=always_open, country=country if use_country else "", subdivision=subdivision if use_country else "")
    cal = Calendar(
        timezone=zone,
        shifts=tuple(Shift(wd, s, e) for wd, s, e in shifts),
        extra_holidays=frozenset(extra_days),
        **kwargs,
    )
    ref = RefCalendar(zone=zone, shifts=shifts, extra=extra_days, **kwargs)
    weekly = sum(length for _wd, _s, length in raw)
    return cal, ref, base, weekly


@st.composite
def instants(draw, base: date):
    offset = draw(st.integers(-3 * 1440, 4 * 1440))
    return datetime.combine(base, time(0), tzinfo=UTC) + offset * M


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- Properties against the reference ---------------------------------------------------------------


@PROPERTY
@given(data=st.data(), setup=calendars())
def test_between_matches_the_minute_by_minute_reference(data, setup):
    cal, ref, base, _weekly = setup
    start = data.draw(instants(base))
    span = data.draw(st.integers(0, 6 * 1440)) * M
    assert cal.between(start, start + span) == ref_between(ref, start, start + span)
    assert cal.between(start + span, start) == -ref_between(ref, start, start + span)


@PROPERTY
@given(data=st.data(), setup=calendars())
def test_add_matches_the_minute_by_minute_reference(data, setup):
    cal, ref, base, weekly = setup
    start = data.draw(instants(base))
    amount = data.draw(st.integers(0, min(weekly, 3 * 1440))) * M
    expected = ref_add(ref, start, amount, horizon=timedelta(days=40))
    assert cal.add(start, amount) == expected
    assert cal.between(start, expected) == amount


@PROPERTY
@given(data=st.data(), setup=calendars())
def test_deadlines_with_pauses_match_the_reference(data, setup):
    cal, ref, base, weekly = setup
    start = data.draw(instants(base))
    cuts = sorted(set(data.draw(st.lists(st.integers(0, 5 * 1440), max_size=4))))
    if len(cuts) % 2:
        cuts.append(None if data.draw(st.booleans()) else cuts[-1] + 60)
    pauses = [(start + a * M, None if b is None else start + b * M) for a, b in zip(cuts[::2], cuts[1::2], strict=True)]
    amounts = sorted(data.draw(st.lists(st.integers(0, min(weekly, 2 * 1440)), min_size=1, max_size=4)))
    got = cal.deadlines(start, [a * M for a in amounts], pauses)
    for amount, moment in zip(amounts, got, strict=True):
        assert moment == ref_deadline(ref, start, amount * M, pauses, horizon=timedelta(days=40))
    closed = [(a, b) for a, b in pauses if b is not None]
    end = start + data.draw(st.integers(0, 5 * 1440)) * M
    minutes = ref.open_minutes(start, end) if end > start else []
    expected = sum(1 for i, is_open in enumerate(minutes) if is_open and not any(a <= start + i * M < b for a, b in closed))
    assert cal.active_between(start, end, closed) == expected * M


@settings(max_examples=300, deadline=None)
@given(
    setup=calendars(),
    offset=st.integers(-3 * 1440 * 60, 4 * 1440 * 60),
    seconds=st.integers(0, 10**6),
    micro=st.integers(0, 999_999),
)
def test_add_and_between_are_inverse_to_the_microsecond(setup, offset, seconds, micro):
    cal, _ref, base, weekly = setup
    assume(seconds <= weekly * 60 * 2)
    start = datetime.combine(base, time(0), tzinfo=UTC) + timedelta(seconds=offset, microseconds=micro)
    amount = timedelta(seconds=seconds, microseconds=micro)
    end = cal.add(start, amount)
    assert end >= start
    assert cal.between(start, end) == amount
    # Earliest: a microsecond less is not enough (unless nothing was asked for).
    if amount:
        assert cal.between(start, end - timedelta(microseconds=1)) < amount


@settings(max_examples=40, deadline=None)
@given(
    setup=calendars(),
    queries=st.lists(st.tuples(st.integers(-9 * 1440, 9 * 1440), st.integers(0, 3 * 1440)), min_size=2, max_size=12),
)
def test_answers_do_not_depend_on_earlier_questions(setup, queries):
    """A calendar caches a timeline around what it was asked; a later question near its
    edge (or far away) must get the answer a fresh calendar gives."""
    shared, _ref, base, _weekly = setup
    origin = datetime.combine(base, time(0), tzinfo=UTC)
    first = origin + queries[0][0] * M
    # After the first question, ask just after the lower edge of the timeline it built
    # (local midnight seven days before), where night shifts of the day before reach in.
    zone = ZoneInfo(shared.timezone)
    edge = datetime.combine(first.astimezone(zone).date() - timedelta(days=7), time(0), tzinfo=zone)
    edges = [edge + (m % 720) * M for m, _span in queries[1:4]]
    starts = [first, *edges, *(origin + offset * M for offset, _span in queries[1:])]
    spans = [span for _offset, span in queries] * 3
    for start, span in zip(starts, spans, strict=False):
        fresh = Calendar(
            timezone=shared.timezone,
            shifts=shared.shifts,
            always_open=shared.always_open,
            country=shared.country,
            subdivision=shared.subdivision,
            extra_holidays=shared.extra_holidays,
        )
        assert shared.between(start, start + span * M) == fresh.between(start, start + span * M)
        assert shared.add(start, span * M) == fresh.add(start, span * M)
        assert shared.is_open(start) == fresh.is_open(start)


def test_a_night_shift_reaching_into_the_edge_of_a_cached_timeline_counts():
    nightly = tuple(Shift(d, time(22), time(6)) for d in range(7))
    cal = Calendar(timezone="UTC", shifts=nightly)
    noon = datetime(2030, 1, 10, 12, tzinfo=UTC)
    assert cal.between(noon, noon + H) == timedelta(0)  # builds a timeline from 3 January
    early = datetime(2030, 1, 3, 0, 30, tzinfo=UTC)  # inside the shift of 2 January
    assert cal.is_open(early)
    assert cal.between(early, early + 2 * H) == 2 * H
    assert cal.add(early, H) == early + H


# --- Daylight saving time -------------------------------------------------------------------------------


def _nightly(zone: str) -> Calendar:
    return Calendar(timezone=zone, shifts=tuple(Shift(d, time(22), time(6)) for d in range(7)))


@pytest.mark.parametrize(
    ("zone", "night", "hours"),
    [
        ("Europe/Warsaw", date(2024, 3, 30), 7),  # clocks jump 02:00 -> 03:00
        ("Europe/Warsaw", date(2024, 10, 26), 9),  # clocks fall back 03:00 -> 02:00
        ("Europe/Warsaw", date(2024, 6, 1), 8),
        ("America/New_York", date(2024, 3, 9), 7),
        ("America/New_York", date(2024, 11, 2), 9),
    ],
)
def test_an_overnight_shift_lasts_real_hours_across_dst(zone, night, hours):
    cal = _nightly(zone)
    tz = ZoneInfo(zone)
    evening = datetime.combine(night, time(21), tzinfo=tz)
    morning = datetime.combine(night + timedelta(days=1), time(7), tzinfo=tz)
    assert cal.between(evening, morning) == hours * H
    # Adding the whole night from its start ends exactly at 06:00 local.
    start = datetime.combine(night, time(22), tzinfo=tz)
    assert cal.add(start, hours * H).astimezone(tz).replace(tzinfo=None) == datetime.combine(night + timedelta(days=1), time(6))


def test_a_wall_time_that_does_not_exist_maps_to_the_jump():
    # Warsaw, 2024-03-31: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
    cal = Calendar(timezone="Europe/Warsaw", shifts=(Shift(6, time(2, 30), time(5)),))
    day = datetime(2024, 3, 31, tzinfo=UTC)
    assert cal.intervals(day, day + timedelta(days=1)) == [
        (datetime(2024, 3, 31, 1, 0, tzinfo=UTC), datetime(2024, 3, 31, 3, 0, tzinfo=UTC))
    ]


def test_a_wall_time_that_exists_twice_maps_to_its_first_occurrence():
    # Warsaw, 2024-10-27: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:30 happens at
    # 00:30 UTC and again at 01:30 UTC. The shift ends at the first one.
    cal = Calendar(timezone="Europe/Warsaw", shifts=(Shift(5, time(22), time(2, 30)),))
    day = datetime(2024, 10, 26, tzinfo=UTC)
    assert cal.intervals(day, day + timedelta(days=2)) == [
        (datetime(2024, 10, 26, 20, 0, tzinfo=UTC), datetime(2024, 10, 27, 0, 30, tzinfo=UTC))
    ]


def test_office_hours_keep_their_local_times_across_dst():
    cal = Calendar(timezone="America/New_York", shifts=tuple(Shift(d, time(9), time(17)) for d in range(5)))
    # Friday 16:00 EST + 2 business hours = Monday 10:00 EDT (clocks changed on Sunday).
    friday = datetime(2024, 3, 8, 16, tzinfo=NEW_YORK)
    assert cal.add(friday, 2 * H) == datetime(2024, 3, 11, 10, tzinfo=NEW_YORK)
    assert cal.between(friday, datetime(2024, 3, 11, 10, tzinfo=NEW_YORK)) == 2 * H


# --- Holidays ---------------------------------------------------------------------------------------------

OFFICE = tuple(Shift(d, time(9), time(17)) for d in range(5))


def test_country_holidays_are_skipped():
    cal = Calendar(timezone="Europe/Warsaw", shifts=OFFICE, country="PL")
    # Tuesday 2024-04-30 16:00 + 2 h: Wednesday 1 May is Labour Day -> Thursday 10:00.
    assert cal.add(datetime(2024, 4, 30, 16, tzinfo=WARSAW), 2 * H) == datetime(2024, 5, 2, 10, tzinfo=WARSAW)
    assert cal.is_holiday(date(2024, 5, 1))
    assert not Calendar(timezone="Europe/Warsaw", shifts=OFFICE).is_holiday(date(2024, 5, 1))


def test_subdivision_holidays_apply_only_with_the_subdivision():
    # Lincoln's Birthday (12 Feb 2024, a Monday) is a holiday in New York State only.
    start = datetime(2024, 2, 9, 16, tzinfo=NEW_YORK)  # Friday
    with_state = Calendar(timezone="America/New_York", shifts=OFFICE, country="US", subdivision="NY")
    federal = Calendar(timezone="America/New_York", shifts=OFFICE, country="US")
    assert with_state.add(start, 2 * H) == datetime(2024, 2, 13, 10, tzinfo=NEW_YORK)
    assert federal.add(start, 2 * H) == datetime(2024, 2, 12, 10, tzinfo=NEW_YORK)


def test_custom_holidays_are_skipped():
    cal = Calendar(timezone="UTC", shifts=OFFICE, extra_holidays=frozenset({date(2024, 7, 2)}))
    assert cal.add(datetime(2024, 7, 1, 16, tzinfo=UTC), 2 * H) == datetime(2024, 7, 3, 10, tzinfo=UTC)


def test_a_night_shift_started_before_a_holiday_runs_to_its_end():
    cal = Calendar(
        timezone="UTC",
        shifts=tuple(Shift(d, time(22), time(6)) for d in range(7)),
        extra_holidays=frozenset({date(2024, 7, 2)}),
    )
    # The shift of 1 July runs to 06:00 on the 2nd; none starts on the 2nd.
    assert cal.between(datetime(2024, 7, 1, 12, tzinfo=UTC), datetime(2024, 7, 3, 12, tzinfo=UTC)) == 8 * H
    assert cal.add(datetime(2024, 7, 2, 5, tzinfo=UTC), 2 * H) == datetime(2024, 7, 3, 23, tzinfo=UTC)


# --- Pauses ------------------------------------------------------------------------------------------------


def test_a_pause_across_a_weekend_costs_only_the_business_time_it_covers():
    cal = Calendar(timezone="Europe/Warsaw", shifts=OFFICE)
    start = datetime(2024, 6, 7, 9, tzinfo=WARSAW)  # Friday
    pause = (datetime(2024, 6, 7, 16, tzinfo=WARSAW), datetime(2024, 6, 10, 10, tzinfo=WARSAW))
    # 8 business hours: 7 on Friday before the pause, then 1 on Monday from 10:00.
    assert cal.deadlines(start, [8 * H], [pause]) == [datetime(2024, 6, 10, 11, tzinfo=WARSAW)]
    assert cal.active_between(start, datetime(2024, 6, 10, 11, tzinfo=WARSAW), [pause]) == 8 * H
    assert cal.between(*pause) == 2 * H


def test_an_open_pause_stops_the_clock():
    cal = Calendar(always_open=True)
    start = datetime(2024, 6, 7, 9, tzinfo=UTC)
    got = cal.deadlines(start, [H, 3 * H], [(start + 2 * H, None)])
    assert got == [start + H, None]


def test_pauses_are_exact_to_the_microsecond():
    cal = Calendar(always_open=True)
    start = datetime(2024, 6, 7, 9, tzinfo=UTC)
    pause = (start + timedelta(seconds=10, microseconds=7), start + timedelta(seconds=20, microseconds=9))
    assert cal.deadlines(start, [timedelta(seconds=30)], [pause]) == [start + timedelta(seconds=40, microseconds=2)]


# --- Shapes and errors -----------------------------------------------------------------------------------------


def test_twenty_four_seven_is_plain_time():
    cal = Calendar(always_open=True)
    start = datetime(2024, 10, 27, 0, tzinfo=UTC)
    assert cal.add(start, 5 * H) == start + 5 * H
    assert cal.between(start, start + 5 * H) == 5 * H


def test_adding_zero_returns_the_start_even_when_closed():
    cal = Calendar(timezone="UTC", shifts=OFFICE)
    saturday = datetime(2024, 6, 8, 12, tzinfo=UTC)
    assert cal.add(saturday, 0) == saturday
    assert cal.add(saturday, 60) == datetime(2024, 6, 10, 9, 1, tzinfo=UTC)


def test_refusals():
    with pytest.raises(CalendarError, match="business hours"):
        Calendar(timezone="UTC")
    with pytest.raises(CalendarError, match="time zone"):
        Calendar(timezone="Mars/Olympus", always_open=True)
    cal = Calendar(timezone="UTC", shifts=OFFICE)
    with pytest.raises(CalendarError, match="aware"):
        cal.add(datetime(2024, 1, 1), 60)  # noqa: DTZ001
    with pytest.raises(CalendarError, match="negative"):
        cal.add(datetime(2024, 1, 1, tzinfo=UTC), -1)
    # Every day a holiday: refused instead of looping for ever.
    days = frozenset(date(2024, 1, 1) + timedelta(days=i) for i in range(4 * 366))
    with pytest.raises(CalendarError, match="no business hours"):
        Calendar(timezone="UTC", shifts=OFFICE, extra_holidays=days).add(datetime(2024, 1, 1, tzinfo=UTC), 60)


def test_overlapping_shifts_are_found_across_the_week_boundary():
    sunday_night = Shift(6, time(22), time(6))
    monday_morning = Shift(0, time(5), time(9))
    assert shifts_overlap([sunday_night, monday_morning]) == [(sunday_night, monday_morning)]
    assert shifts_overlap([Shift(0, time(9), time(12)), Shift(0, time(12), time(17))]) == []
