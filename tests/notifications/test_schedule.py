"""When a message may go out (apps/notifications/schedule.py, pure): the burst window,
quiet hours in the person's zone (also across midnight and a DST change), and digests."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from apps.notifications import schedule

WARSAW = ZoneInfo("Europe/Warsaw")
UTC = ZoneInfo("UTC")


def at(text: str, zone=WARSAW) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


@pytest.mark.parametrize(
    ("now", "quiet", "expected"),
    [
        ("2026-12-07 12:00", (None, None), "2026-12-07 12:01"),  # the burst window only
        ("2026-12-07 12:00", (time(22), time(7)), "2026-12-07 12:01"),  # outside quiet hours
        ("2026-12-07 23:30", (time(22), time(7)), "2026-12-08 07:00"),  # late: next morning
        ("2026-12-08 03:00", (time(22), time(7)), "2026-12-08 07:00"),  # after midnight: this morning
        ("2026-12-07 21:59:30", (time(22), time(7)), "2026-12-08 07:00"),  # the burst ends inside them
        ("2026-12-07 13:30", (time(13), time(14)), "2026-12-07 14:00"),  # a lunch break
        ("2026-12-07 13:30", (time(9), time(9)), "2026-12-07 13:31"),  # equal ends: none
        ("2027-03-28 01:30", (time(1), time(3)), "2027-03-28 03:00"),  # 02:00-03:00 does not exist that night
    ],
)
def test_immediate_messages_wait_for_the_burst_and_quiet_hours(now, quiet, expected):
    got = schedule.send_after(at(now), quiet_from=quiet[0], quiet_until=quiet[1], zone=WARSAW, burst_seconds=60)
    assert got == at(expected)


def test_quiet_hours_are_the_persons_not_the_servers():
    now = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)  # 23:30 in Warsaw, 17:30 in New York
    warsaw = schedule.send_after(now, quiet_from=time(22), quiet_until=time(7), zone=WARSAW)
    new_york = schedule.send_after(now, quiet_from=time(22), quiet_until=time(7), zone=ZoneInfo("America/New_York"))
    assert warsaw == at("2026-12-08 07:00")
    assert new_york == now


@pytest.mark.parametrize(
    ("now", "digest", "expected"),
    [
        ("2026-12-07 12:20", "hourly", "2026-12-07 13:00"),
        ("2026-12-07 23:59", "hourly", "2026-12-08 00:00"),
        ("2026-12-07 06:00", "daily", "2026-12-07 08:00"),
        ("2026-12-07 08:00", "daily", "2026-12-08 08:00"),
        ("2026-12-07 19:00", "daily", "2026-12-08 08:00"),
    ],
)
def test_digests_go_out_on_the_hour_or_at_eight_in_the_morning(now, digest, expected):
    assert schedule.send_after(at(now), digest=digest, zone=WARSAW, burst_seconds=60) == at(expected)


def test_a_digest_due_in_quiet_hours_waits_for_their_end():
    got = schedule.send_after(at("2026-12-07 06:00"), digest="daily", quiet_from=time(22), quiet_until=time(9),
                              zone=WARSAW)
    assert got == at("2026-12-07 09:00")
