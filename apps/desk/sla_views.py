"""The desk's SLA pages: the dashboard, "New ticket" (on behalf of a requester) with its
due-time preview, and the SLA panel of the ticket page. Thin, like `views.py`.

* Dashboard (`/desk/dashboard/`): open tickets by SLA state per team, from
  `apps.sla.selectors.sla_dashboard_by_team()` (one query), as a table and a Chart.js
  stacked bar chart. The chart's data travels in a `json_script` block (data, not code,
  so the CSP allows it) read by `static/tickets/dashboard.js`.
* New ticket (`/desk/tickets/new/`): `apps.tickets.services.ticket_create(requester=...)`;
  the due times the ticket would get are shown next to the fields that decide them and
  refreshed with htmx from `/desk/sla-preview/` (`apps.sla.preview`).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts import permissions
from apps.core.errors import ApplicationError
from apps.core.problems import persist_denial
from apps.core.timezones import wall_clock
from apps.sla import selectors as sla_selectors
from apps.sla.choices import ACTIVE_STATUSES, Badge, ClockState, Metric
from apps.sla.preview import due_preview
from apps.sla.templatetags.sla import humanize_duration, running_due
from apps.tickets import selectors, services

from . import forms, lookups
from .access import agent_required

# The dashboard's columns, in the order of the table and of the chart's stacks.
DASHBOARD_STATES = (Badge.ON_TRACK, Badge.AT_RISK, Badge.PAUSED, Badge.BREACHED, Badge.NONE)
# Counts that link to the queue: the queue's SLA filter means the same thing for these
# (the dashboard's "on track" also counts a ticket whose only clock was met).
LINKED_STATES = (Badge.AT_RISK, Badge.PAUSED, Badge.BREACHED)


# --- Ticket page: the SLA panel --------------------------------------------------------------


def sla_panel(ticket) -> dict:
    """Per metric (first response, resolution) what the ticket page's SLA panel needs
    besides the `sla_badge` tag (state and time remaining): the clock (due, paused, met,
    breached times), its badge, whether it is paused, the target, and for a running clock
    its due time on the viewer's clock next to the business time left and the calendar
    that counts it. Reads the prefetched clocks; cancelled clocks (no SLA applies any
    more) are left out."""
    metrics = []
    policy = None
    for metric in Metric:
        clock = sla_selectors.ticket_clock(ticket, metric.value)
        if clock is None or clock.state == ClockState.CANCELLED:
            continue
        policy = policy or (clock.policy.name if clock.policy_id and clock.policy else None)
        due = running_due(clock)
        left = sla_selectors.clock_remaining(clock) if due is not None else None
        metrics.append({
            "key": metric.value,
            "label": metric.label,
            "clock": clock,
            "badge": sla_selectors.clock_badge(clock),
            "paused": clock.paused_at is not None and clock.stopped_at is None,
            "target": humanize_duration(timedelta(seconds=clock.target_seconds)),
            # A running clock: when it is due on the viewer's clock, and the business time
            # left on the policy's calendar (which may be in another zone).
            "due_at": due,
            "due_text": wall_clock(due) if due is not None else "",
            "left": humanize_duration(left) if left is not None and left.total_seconds() >= 0 else "",
            "late": humanize_duration(left) if left is not None and left.total_seconds() < 0 else "",
            "calendar": clock.calendar.name if clock.calendar_id and clock.calendar else "",
            "calendar_zone": clock.calendar.timezone if clock.calendar_id and clock.calendar else "",
            "always_open": bool(clock.calendar_id and clock.calendar and clock.calendar.always_open),
        })
    return {"metrics": metrics, "policy": policy}


# --- Dashboard -------------------------------------------------------------------------------


def _queue_link(team_id: int, state: str) -> str:
    query = "&".join([f"team={team_id}", f"sla={state}", *(f"status={s}" for s in sorted(ACTIVE_STATUSES))])
    return f"{reverse('desk:queue')}?{query}"


def dashboard_context(rows: list[dict]) -> dict:
    labels = {state: str(state.label) for state in DASHBOARD_STATES}
    no_team = _("No team")
    table = []
    for row in rows:
        cells = []
        for state in DASHBOARD_STATES:
            count = row[state.value]
            link = _queue_link(row["team_id"], state.value) if count and row["team_id"] and state in LINKED_STATES else None
            cells.append({"state": state.value, "label": labels[state], "count": count, "url": link})
        table.append({"team": row["team"] or no_team, "team_id": row["team_id"], "cells": cells, "total": row["total"]})
    totals = [{"label": labels[state], "count": sum(row[state.value] for row in rows)} for state in DASHBOARD_STATES]
    chart = {
        "labels": [row["team"] or no_team for row in rows],
        "series": [
            {"key": state.value, "label": labels[state], "data": [row[state.value] for row in rows]}
            for state in DASHBOARD_STATES
        ],
        "axis": _("Open tickets"),
    }
    return {
        "columns": [{"state": state.value, "label": labels[state]} for state in DASHBOARD_STATES],
        "rows": table,
        "totals": totals,
        "grand_total": sum(total["count"] for total in totals),
        "total_label": _("Total"),
        "chart": chart,
    }


@agent_required
@require_GET
def dashboard_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    context = dashboard_context(sla_selectors.sla_dashboard_by_team(now=now))
    context.update(as_of=now, can_simulate=permissions.is_tenant_admin(request.user))
    return render(request, "desk/dashboard.html", context)


# --- New ticket and its due-time preview ------------------------------------------------------


def _create_options() -> dict:
    return {
        "teams": list(selectors.team_list()),
        "agents": list(lookups.agent_list()),
        "categories": list(selectors.category_list()),
    }


def _preview(form):
    """The due-time preview of what a create form holds, valid or not (an invalid or
    missing field counts as its default: medium impact and urgency, no category or team)."""
    if form.is_bound:
        form.is_valid()
        data = form.cleaned_data
    else:
        data = {name: form.get_initial_for_field(form.fields[name], name) for name in forms.SLA_FIELDS}
    return due_preview(**forms.sla_inputs(data))


@agent_required
@require_http_methods(["GET", "POST"])
def ticket_new_view(request: HttpRequest) -> HttpResponse:
    options = _create_options()
    if request.method == "GET":
        form = forms.TicketCreateForm(**options)
        return render(request, "desk/new.html", {"form": form, "preview": _preview(form)})
    form = forms.TicketCreateForm(request.POST, **options)
    if form.is_valid():
        requester = lookups.requester_by_email(form.cleaned_data["requester"])
        if requester is None:
            form.add_error("requester", _("No active user of this organisation has this email address."))
        else:
            try:
                ticket = services.ticket_create(actor=request.user, requester=requester, **form.service_kwargs())
            except ApplicationError as exc:
                persist_denial(exc)
                forms.apply_errors(form, exc.errors, exc.message)
            else:
                messages.success(request, _("Ticket #%(number)s was opened for %(requester)s.") % {
                    "number": ticket.number, "requester": requester.email})
                return redirect("desk:ticket", number=ticket.number)
    return render(request, "desk/new.html", {"form": form, "preview": _preview(form)},
                  status=400)


@agent_required
@require_GET
def sla_preview_view(request: HttpRequest) -> HttpResponse:
    """The due times of the ticket the "New ticket" form describes (htmx fragment)."""
    form = forms.SlaPreviewForm(request.GET, teams=list(selectors.team_list()),
                                categories=list(selectors.category_list()))
    return render(request, "desk/_sla_preview.html", {"preview": _preview(form)})
