"""SLA badges and timers for templates.

    {% load sla %}
    {% sla_badge ticket %}                      most urgent clock: on track / at risk / breached / paused / met,
                                                with the business time left and the due time on the
                                                viewer's clock ("7 h 59 min left", "due tomorrow 09:00 CET")
    {% sla_badge ticket "first_response" %}     one metric
    {{ ticket|sla_state }}                      "on_track", "at_risk", "breached", "paused", "met" or "none"
    {{ ticket|sla_remaining }}                  "2 h 05 min left", "overdue by 40 min", "paused (1 h 10 min left)"
    {{ ticket|sla_due }}                        the due time of the most urgent clock, or None
    {{ ticket|sla_due_text }}                   "due tomorrow 09:00 CET" (running clocks), or ""

The time left is business time (the policy's calendar: "7 h 59 min left" may well end
tomorrow morning); the due time is a wall-clock time in the viewer's zone with its
abbreviation (`apps.core.timezones.wall_clock`), so the two together are never a puzzle.

Prefetch the clocks (`apps.sla.selectors.clock_prefetch()`) when rendering lists, or
each ticket costs a query.
"""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.dateformat import DateFormat
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import gettext as _

from apps.core.timezones import full, wall_clock

from .. import selectors
from ..choices import Badge, ClockState, Metric

register = template.Library()

CSS = {
    Badge.ON_TRACK: "sla-badge sla-on-track",
    Badge.AT_RISK: "sla-badge sla-at-risk",
    Badge.BREACHED: "sla-badge sla-breached",
    Badge.PAUSED: "sla-badge sla-paused",
    Badge.MET: "sla-badge sla-met",
    Badge.NONE: "sla-badge sla-none",
}


def _clock(ticket, metric: str | None):
    if metric:
        clock = selectors.ticket_clock(ticket, Metric(metric))
        return selectors.clock_badge(clock), clock
    return selectors.ticket_badge(ticket)


def humanize_duration(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)s h %(m)02d min") % {"h": hours, "m": minutes}
    return _("%(m)s min") % {"m": minutes}


def remaining_text(clock) -> str:
    if clock is None:
        return ""
    remaining = selectors.clock_remaining(clock)
    if remaining is None:
        return ""
    if clock.paused_at is not None:
        return _("paused (%(left)s left)") % {"left": humanize_duration(remaining)}
    if remaining.total_seconds() < 0:
        return _("overdue by %(late)s") % {"late": humanize_duration(remaining)}
    return _("%(left)s left") % {"left": humanize_duration(remaining)}


def running_due(clock):
    """The due time a person can plan by: a running clock's (paused ones have none yet,
    stopped ones none any more)."""
    if clock is None or clock.stopped_at is not None or clock.paused_at is not None or clock.state == ClockState.CANCELLED:
        return None
    return clock.due_at


def due_text(clock) -> str:
    """"due tomorrow 09:00 CET" in the active (the viewer's) zone, or ""."""
    due = running_due(clock)
    return _("due %(when)s") % {"when": wall_clock(due)} if due is not None else ""


def badge_context(ticket, metric: str | None = None) -> dict:
    """What a badge shows: the most urgent clock (or `metric`'s), its state and times."""
    badge, clock = _clock(ticket, metric)
    due = running_due(clock)
    metric_label = Metric(clock.metric).label if clock is not None else ""
    return {
        "badge": badge,
        "label": Badge(badge).label,
        "css": CSS[Badge(badge)],
        "clock": clock,
        "metric": metric_label,
        "remaining": remaining_text(clock),
        "due_at": due,
        "due_text": due_text(clock),
        "title": _("%(metric)s: due %(when)s") % {"metric": metric_label, "when": full(due)} if due is not None else "",
    }


@register.simple_tag
def sla_badge(ticket, metric: str | None = None) -> SafeString:
    """The badge, written here rather than by a template: lists show one per row, and an
    inclusion tag's template cost more than everything else of the badge. The markup is
    the one `sla/badge.html` had (trailing newline included):

        <span class="{css}" data-sla-state="{badge}"[ title="{title}"]>{label}
        [ <small class="sla-remaining">{remaining}</small>]
        [ <small class="sla-due"><time datetime="{due_at|date:'c'}">{due_text}</time></small>]</span>
    """
    c = badge_context(ticket, metric)
    parts = [format_html('<span class="{}" data-sla-state="{}"', c["css"], c["badge"])]
    if c["title"]:
        parts.append(format_html(' title="{}"', c["title"]))
    parts.append(format_html(">{}", c["label"]))
    if c["remaining"]:
        parts.append(format_html(' <small class="sla-remaining">{}</small>', c["remaining"]))
    if c["due_text"]:
        iso = DateFormat(template_localtime(c["due_at"])).c() if c["due_at"] is not None else ""
        parts.append(format_html(' <small class="sla-due"><time datetime="{}">{}</time></small>', iso, c["due_text"]))
    parts.append("</span>\n")
    return mark_safe("".join(parts))  # noqa: S308 - every value escaped by format_html above


@register.filter
def sla_state(ticket, metric: str | None = None) -> str:
    return str(_clock(ticket, metric)[0])


@register.filter
def sla_remaining(ticket, metric: str | None = None) -> str:
    return remaining_text(_clock(ticket, metric)[1])


@register.filter
def sla_due(ticket, metric: str | None = None):
    clock = _clock(ticket, metric)[1]
    return clock.due_at if clock is not None else None


@register.filter
def sla_due_text(ticket, metric: str | None = None) -> str:
    return due_text(_clock(ticket, metric)[1])
