"""What every new tenant starts with: two business calendars and a P1..P4 policy set, so
that its first ticket already has SLA clocks (run by provisioning, `tenants.provisioning`;
editable in the admin like any other).

* "Around the clock": 24x7, for the urgent priorities.
* "<Office> office hours": Monday to Friday 08:00-17:00 in the region's time zone,
  with the country's public holidays.
* "Urgent: around the clock" covers P1 and P2, "Standard: office hours" P3 and P4,
  first response and resolution targets in business minutes (`TARGETS`).
"""

from __future__ import annotations

from datetime import time

from apps.tenants.models import REGION_TIME_ZONES, Region

from ..models import SlaPolicy
from ..validation import CalendarInput, PolicyInput, ShiftInput
from .configuration import sla_calendar_save, sla_policy_save

# region -> (calendar name, IANA time zone, holiday country). The zone is also the
# tenant's own time zone by default (`REGION_TIME_ZONES`), so a new tenant's people see
# times on the clock of its office hours.
OFFICES = {
    "eu": ("Office hours (Warsaw)", REGION_TIME_ZONES[Region.EU], "PL"),
    "us": ("Office hours (New York)", REGION_TIME_ZONES[Region.US], "US"),
}
# priority -> (first response, resolution), business minutes
TARGETS = {"P1": (30, 240), "P2": (60, 480), "P3": (240, 1440), "P4": (480, 2880)}


def sla_defaults_install(*, region: str, actor=None) -> list[SlaPolicy]:
    """Create the default calendars and policies unless the tenant has a policy already
    (idempotent). Written through the configuration services: policy-checked and audited,
    as the system unless `actor` is given."""
    if SlaPolicy.objects.exists():
        return []
    name, zone, country = OFFICES.get(region, OFFICES["eu"])
    always = sla_calendar_save(actor=actor, data=CalendarInput(name="Around the clock", always_open=True))
    office = sla_calendar_save(
        actor=actor,
        data=CalendarInput(
            name=name,
            timezone=zone,
            holiday_country=country,
            shifts=[ShiftInput(day, time(8), time(17)) for day in range(5)],
        ),
    )
    policies = []
    for order, policy_name, calendar, priorities in (
        (10, "Urgent: around the clock", always, ("P1", "P2")),
        (20, "Standard: office hours", office, ("P3", "P4")),
    ):
        policies.append(
            sla_policy_save(
                actor=actor,
                data=PolicyInput(
                    name=policy_name,
                    calendar=calendar,
                    order=order,
                    targets={p: {"first_response": TARGETS[p][0], "resolution": TARGETS[p][1]} for p in priorities},
                ),
            )
        )
    return policies
