"""A date hierarchy for the audit log that never scans the table.

Django's `{% date_hierarchy %}` lists the years, months or days that hold rows with
`SELECT DISTINCT date_trunc(...)` over the filtered events: on a long chain that is a
full scan on every page view. This tag draws the same links from cheap questions the
`created_at` index answers directly: the first and last event (MIN/MAX), then one
`EXISTS` probe per candidate year, month or day. The filtering itself is Django's own
(`date_hierarchy = "created_at"` turns the chosen period into a range on the index).
"""

from __future__ import annotations

import calendar
import datetime

from django import template
from django.db import models
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

register = template.Library()


def _aware(year: int, month: int = 1, day: int = 1) -> datetime.datetime:
    """Midnight starting that day in the current time zone (the admin's periods are local)."""
    return timezone.make_aware(datetime.datetime(year, month, day))  # noqa: DTZ001 - made aware here


def _has_rows(queryset, field: str, start: datetime.datetime, end: datetime.datetime) -> bool:
    return queryset.filter(**{f"{field}__gte": start, f"{field}__lt": end}).exists()


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


@register.inclusion_tag("admin/date_hierarchy.html")
def audit_date_hierarchy(cl):
    field = cl.date_hierarchy
    if not field:
        return {"show": False}
    queryset = cl.queryset.order_by()
    year_field, month_field, day_field = f"{field}__year", f"{field}__month", f"{field}__day"
    year = cl.params.get(year_field)
    month = cl.params.get(month_field)
    day = cl.params.get(day_field)
    year, month, day = (int(v[-1] if isinstance(v, list) else v) if v else None for v in (year, month, day))

    def link(filters):
        return cl.get_query_string(filters, [f"{field}__"])

    if not (year or month or day):
        bounds = queryset.aggregate(first=models.Min(field), last=models.Max(field))
        if bounds["first"] is None:
            return {"show": False}
        first, last = timezone.localtime(bounds["first"]), timezone.localtime(bounds["last"])
        if first.year != last.year:
            years = [y for y in range(first.year, last.year + 1) if _has_rows(queryset, field, _aware(y), _aware(y + 1))]
            return {
                "show": True,
                "back": None,
                "choices": [{"link": link({year_field: str(y)}), "title": str(y)} for y in years],
            }
        year = first.year
        if first.month == last.month:
            month = first.month
    if year and month and day:
        chosen = datetime.date(year, month, day)
        return {
            "show": True,
            "back": {"link": link({year_field: year, month_field: month}),
                     "title": capfirst(formats.date_format(chosen, "YEAR_MONTH_FORMAT"))},
            "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}],
        }
    if year and month:
        days = calendar.monthrange(year, month)[1]
        choices = []
        for number in range(1, days + 1):
            start = _aware(year, month, number)
            if _has_rows(queryset, field, start, start + datetime.timedelta(days=1)):
                label = capfirst(formats.date_format(datetime.date(year, month, number), "MONTH_DAY_FORMAT"))
                choices.append({"link": link({year_field: year, month_field: month, day_field: number}), "title": label})
        return {"show": True, "back": {"link": link({year_field: year}), "title": str(year)}, "choices": choices}
    choices = []
    for number in range(1, 13):
        if _has_rows(queryset, field, _aware(year, number), _aware(*_next_month(year, number))):
            label = capfirst(formats.date_format(datetime.date(year, number, 1), "YEAR_MONTH_FORMAT"))
            choices.append({"link": link({year_field: year, month_field: number}), "title": label})
    return {"show": True, "back": {"link": link({}), "title": _("All dates")}, "choices": choices}
