"""Due times for a ticket that does not exist yet: the create forms' preview.

Shared by the portal's "New request" form and the desk's "New ticket" form. The
priority comes from the tickets app (impact x urgency through the tenant's matrix), the
policy and the due times from the SLA app (`apps.sla.selectors.sla_preview`: the same
matching and business-time arithmetic the clocks use). Read only.

What a page shows of it is the page's business: the desk shows both metrics and the
policy's name; the portal shows the resolution due time only (`public()`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from apps.sla import selectors as sla_selectors
from apps.sla.choices import Metric
from apps.tickets import selectors
from apps.tickets.priority import priority_for


@dataclass(frozen=True)
class DueLine:
    metric: str
    label: str
    due_at: datetime | None  # None: the policy pauses on "new", the clock waits for the first change


@dataclass(frozen=True)
class DuePreview:
    priority: str
    policy_name: str | None  # agent-only
    lines: tuple[DueLine, ...]
    start: datetime

    @property
    def matched(self) -> bool:
        return bool(self.lines)

    def line(self, metric: str) -> DueLine | None:
        return next((line for line in self.lines if line.metric == metric), None)

    def public(self) -> DuePreview:
        """What a requester may see: the resolution due time, nothing about the policy."""
        resolution = self.line(Metric.RESOLUTION)
        return DuePreview(priority=self.priority, policy_name=None, lines=(resolution,) if resolution else (),
                          start=self.start)


def due_preview(*, impact: int, urgency: int, category_id: int | None = None, team_id: int | None = None,
                now: datetime | None = None) -> DuePreview:
    """The due times a ticket with these fields would get if it were created `now`."""
    now = now or timezone.now()
    priority = priority_for(impact, urgency, selectors.priority_matrix_get())
    matcher = sla_selectors.policy_matcher()
    policy = matcher.match(priority=priority, category_id=category_id, team_id=team_id)
    dues = sla_selectors.sla_preview(priority=priority, category_id=category_id, team_id=team_id, start=now,
                                     matcher=matcher)
    lines = tuple(DueLine(metric=metric, label=str(Metric(metric).label), due_at=due) for metric, due in dues)
    return DuePreview(priority=priority, policy_name=policy.name if policy is not None and lines else None,
                      lines=lines, start=now)
