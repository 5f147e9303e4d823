"""Periodic tasks are declared in code and written to django-celery-beat's tables by
`manage.py sync_periodic_tasks` (run by `make migrate`). Each entry is a public-schema
dispatcher that fans the tenant task out with `tenants.dispatch`."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Periodic:
    name: str
    tenant_task: str
    every_seconds: int
    jitter_seconds: int = 0


SCHEDULE: list[Periodic] = []


def register(entry: Periodic) -> Periodic:
    if all(e.name != entry.name for e in SCHEDULE):
        SCHEDULE.append(entry)
    return entry


def sync() -> list[str]:
    """Create or update the beat rows for SCHEDULE; disable our rows that left it."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    names = []
    for entry in SCHEDULE:
        interval, _ = IntervalSchedule.objects.get_or_create(every=entry.every_seconds, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.update_or_create(
            name=f"warden:{entry.name}",
            defaults={
                "task": "tenants.dispatch",
                "interval": interval,
                "kwargs": json.dumps({"task_name": entry.tenant_task, "jitter_seconds": entry.jitter_seconds}),
                "enabled": True,
            },
        )
        names.append(entry.name)
    PeriodicTask.objects.filter(name__startswith="warden:").exclude(
        name__in=[f"warden:{n}" for n in names]
    ).update(enabled=False)
    return names
