"""apps.core.timezones: valid names, the picker's choices, abbreviations across DST, the
wall-clock phrase of due times, and the date formats that end in the zone (no database)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.utils import timezone, translation

from apps.core import timezones

WARSAW = ZoneInfo("Europe/Warsaw")
NEW_YORK = ZoneInfo("America/New_York")
# Monday 23 November 2026, 16:01 in Warsaw (15:01 UTC): winter time, CET.
NOW = datetime(2026, 11, 23, 16, 1, tzinfo=WARSAW)


def at(year, month, day, hour, minute=0, tz=WARSAW):
    return datetime(year, month, day, hour, minute, tzinfo=tz)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(2026, 11, 23, 17), "today 17:00 CET"),
        (at(2026, 11, 24, 9), "tomorrow 09:00 CET"),
        (at(2026, 11, 22, 16, 30), "yesterday 16:30 CET"),
        (at(2026, 11, 26, 9), "Thu 09:00 CET"),  # within the coming week: the weekday
        (at(2026, 11, 29, 23, 59), "Sun 23:59 CET"),
        (at(2026, 11, 30, 9), "30 Nov 09:00 CET"),  # a week ahead: the date
        (at(2026, 11, 20, 9), "20 Nov 09:00 CET"),  # earlier than yesterday: the date
        (at(2027, 1, 4, 9), "4 Jan 2027 09:00 CET"),  # another year: with the year
        (at(2027, 4, 1, 9), "1 Apr 2027 09:00 CEST"),  # summer time: CEST
    ],
)
def test_wall_clock_reads_like_a_clock_in_the_viewers_zone(moment, expected):
    with translation.override("en"):
        assert timezones.wall_clock(moment, now=NOW, name="Europe/Warsaw") == expected


def test_the_same_instant_reads_differently_in_each_zone_and_the_active_zone_is_the_default():
    due = at(2026, 11, 24, 9)  # 08:00 UTC
    with translation.override("en"):
        assert timezones.wall_clock(due, now=NOW, name="America/New_York") == "tomorrow 03:00 EST"
        # In Tokyo it is already Tuesday 00:01: the due time is today.
        assert timezones.wall_clock(due, now=NOW, name="Asia/Tokyo") == "today 17:00 JST"
        assert timezones.wall_clock(due, now=NOW, name="UTC") == "tomorrow 08:00 UTC"
        with timezone.override(NEW_YORK):
            assert timezones.wall_clock(due, now=NOW) == "tomorrow 03:00 EST"


def test_today_and_tomorrow_are_the_viewers_days_around_midnight():
    # 23:30 in Warsaw is already the next day in Tokyo and still the same day in New York.
    late = at(2026, 11, 23, 23, 30)
    due = at(2026, 11, 24, 0, 30)  # 23:30 UTC on the 23rd
    with translation.override("en"):
        assert timezones.wall_clock(due, now=late, name="Europe/Warsaw") == "tomorrow 00:30 CET"
        assert timezones.wall_clock(due, now=late, name="America/New_York") == "today 18:30 EST"
        assert timezones.wall_clock(due, now=late, name="Asia/Tokyo") == "today 08:30 JST"


def test_abbreviations_follow_daylight_saving_time():
    assert timezones.abbreviation(at(2027, 3, 28, 1, 59), "Europe/Warsaw") == "CET"
    assert timezones.abbreviation(at(2027, 3, 28, 3, 0), "Europe/Warsaw") == "CEST"
    assert timezones.abbreviation(at(2026, 7, 1, 12), "America/New_York") == "EDT"
    assert timezones.abbreviation(at(2026, 12, 1, 12), "America/New_York") == "EST"
    assert timezones.abbreviation(at(2026, 12, 1, 12), "UTC") == "UTC"
    # Zones without letters in the tz database show their offset, as the database does.
    assert timezones.abbreviation(at(2026, 12, 1, 12), "Asia/Dubai") == "+04"
    with timezone.override(ZoneInfo("Asia/Tokyo")):
        assert timezones.abbreviation(at(2026, 12, 1, 12)) == "JST"


def test_valid_names_are_the_tz_databases():
    assert timezones.is_zone("Europe/Warsaw")
    assert timezones.is_zone("UTC")
    assert timezones.is_zone("US/Eastern")  # legacy, still valid when stored
    for bad in ("Mars/Olympus_Mons", "", "europe/warsaw", None, 42, "../etc/passwd"):
        assert not timezones.is_zone(bad)
        with pytest.raises(ValidationError) as raised:
            timezones.validate_time_zone(bad)
        assert "IANA name" in str(raised.value)
    timezones.validate_time_zone("Asia/Kolkata")
    assert timezones.zone("Mars/Olympus_Mons") == ZoneInfo("UTC")


def _flat(choices):
    flat = {}
    for value, label in choices:
        if isinstance(label, list):
            flat.update({v: (value, text) for v, text in label})
        else:
            flat[value] = (None, label)
    return flat


def test_the_picker_groups_area_zones_with_their_current_offset():
    choices = timezones.zone_choices(moment=at(2026, 11, 23, 12))
    assert choices[0] == ("UTC", "UTC (UTC+00:00)")
    areas = [value for value, label in choices if isinstance(label, list)]
    assert areas == [a for a in timezones.AREAS if a in areas]
    assert "Europe" in areas
    assert "America" in areas
    flat = _flat(choices)
    assert flat["Europe/Warsaw"] == ("Europe", "Warsaw (UTC+01:00)")
    assert flat["America/New_York"] == ("America", "New York (UTC\u221205:00)")
    assert flat["Asia/Kolkata"] == ("Asia", "Kolkata (UTC+05:30)")
    assert flat["America/Argentina/Buenos_Aires"] == ("America", "Argentina/Buenos Aires (UTC\u221203:00)")
    assert "US/Eastern" not in flat
    assert "EST5EDT" not in flat
    assert "Etc/GMT+5" not in flat
    summer = _flat(timezones.zone_choices(moment=at(2026, 7, 1, 12)))
    assert summer["Europe/Warsaw"] == ("Europe", "Warsaw (UTC+02:00)")


def test_a_stored_legacy_name_is_offered_first_so_that_a_form_keeps_it():
    choices = timezones.zone_choices(current="US/Eastern", moment=at(2026, 11, 23, 12))
    assert choices[0] == ("US/Eastern", "US/Eastern (UTC\u221205:00)")
    assert timezones.zone_choices(current="Europe/Warsaw")[0][0] == "UTC"  # already offered: not repeated
    assert timezones.zone_choices(current="Mars/Olympus_Mons")[0][0] == "UTC"


@pytest.mark.parametrize(
    ("language", "full", "short"),
    [
        ("en", "Nov. 24, 2026, 9 a.m. CET", "11/24/2026 9 a.m. CET"),
        ("pl", "24 listopada 2026 09:00 CET", "24-11-2026 09:00 CET"),
    ],
)
def test_every_date_and_time_format_ends_in_the_zones_abbreviation(language, full, short):
    moment = at(2026, 11, 24, 9)
    template = Template('{{ t|date:"DATETIME_FORMAT" }}|{{ t|date:"SHORT_DATETIME_FORMAT" }}|{{ t }}')
    with translation.override(language), timezone.override(WARSAW):
        assert template.render(Context({"t": moment})) == f"{full}|{short}|{full}"
        assert timezones.full(moment) == full
    with translation.override(language), timezone.override(NEW_YORK):
        assert template.render(Context({"t": moment})).endswith("EST")
