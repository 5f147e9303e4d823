"""Shapes of the SLA API. Input serializers check shape only (and refuse undeclared
fields, nested ones too: `apps.core.serializers.InputSerializer`); every rule (positive
targets, thresholds, overlap) lives in `validation.py` and is enforced by the services.

`TicketSlaField` is for the tickets API to nest (source="*"): it reads the ticket's
clocks from the prefetch cache (`selectors.clock_prefetch()`), so a page of tickets
costs one extra query in all. Agents and admins get the full block
(`TicketSlaSerializer`); requesters, and any caller the serializer context does not
name, get what the portal shows them (`RequesterTicketSlaSerializer`): the resolution
due time and state, nothing about policies, targets or at-risk times.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.serializers import InputSerializer

from .. import selectors
from ..choices import PAUSABLE_STATUSES, PRIORITIES, Badge, ClockState, EscalationAction, Metric, StepMetric
from ..models import SlaCalendar, SlaPolicy

MAX_ID = 2**63 - 1


def IdField(**kwargs) -> serializers.IntegerField:  # noqa: N802
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


# --- Ticket SLA (nested in the tickets API) ---------------------------------------------------


class ClockOutputSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=ClockState.choices, read_only=True)
    badge = serializers.ChoiceField(choices=Badge.choices, read_only=True)
    policy = serializers.CharField(read_only=True, allow_null=True)
    target_seconds = serializers.IntegerField(read_only=True, help_text="Target in business seconds.")
    started_at = serializers.DateTimeField(read_only=True)
    due_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null while paused.")
    at_risk_at = serializers.DateTimeField(read_only=True, allow_null=True)
    remaining_seconds = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Business seconds left (negative once overdue); null once the clock stopped.",
    )
    paused = serializers.BooleanField(read_only=True)
    paused_seconds = serializers.IntegerField(
        read_only=True, help_text="Business seconds spent paused so far, the pause in progress included."
    )
    met_at = serializers.DateTimeField(read_only=True, allow_null=True)
    breached_at = serializers.DateTimeField(read_only=True, allow_null=True)


def clock_data(clock, now=None) -> dict | None:
    if clock is None:
        return None
    remaining = selectors.clock_remaining(clock, now=now)
    return {
        "state": clock.state,
        "badge": selectors.clock_badge(clock, now=now),
        "policy": clock.policy.name if clock.policy_id and clock.policy else None,
        "target_seconds": clock.target_seconds,
        "started_at": clock.started_at,
        "due_at": clock.due_at,
        "at_risk_at": clock.risk_at,
        "remaining_seconds": int(remaining.total_seconds()) if remaining is not None else None,
        "paused": clock.paused_at is not None,
        "paused_seconds": selectors.clock_paused_seconds(clock, now=now),
        "met_at": clock.met_at,
        "breached_at": clock.breached_at,
    }


class TicketSlaSerializer(serializers.Serializer):
    """SLA of one ticket, as agents see it: `{"badge", "first_response": {...} | null,
    "resolution": {...} | null}`."""

    badge = serializers.ChoiceField(choices=Badge.choices, read_only=True, help_text="The most urgent state.")
    first_response = ClockOutputSerializer(read_only=True, allow_null=True)
    resolution = ClockOutputSerializer(read_only=True, allow_null=True)

    def to_representation(self, ticket):
        now = self.context.get("sla_now")
        badge, _clock = selectors.ticket_badge(ticket, now=now)
        clocks = {c.metric: c for c in selectors.ticket_clocks(ticket)}
        return {
            "badge": badge,
            Metric.FIRST_RESPONSE.value: clock_data(clocks.get(Metric.FIRST_RESPONSE), now),
            Metric.RESOLUTION.value: clock_data(clocks.get(Metric.RESOLUTION), now),
        }


REQUESTER_STATES = (ClockState.RUNNING, ClockState.PAUSED, ClockState.MET, ClockState.BREACHED)


class RequesterClockSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=[(s.value, s.label) for s in REQUESTER_STATES], read_only=True)
    due_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null while paused.")


class RequesterTicketSlaSerializer(serializers.Serializer):
    """SLA of one ticket, as its requester sees it: `{"resolution": {"state", "due_at"} | null}`."""

    resolution = RequesterClockSerializer(read_only=True, allow_null=True, help_text="Null when no SLA applies.")

    def to_representation(self, ticket):
        now = self.context.get("sla_now")
        clock = selectors.ticket_clock(ticket, Metric.RESOLUTION)
        if clock is None or clock.state == ClockState.CANCELLED:
            return {"resolution": None}
        # A running clock past its due time is breached even before the sweep says so.
        state = ClockState.BREACHED if selectors.clock_badge(clock, now=now) == Badge.BREACHED else clock.state
        return {"resolution": {"state": state, "due_at": clock.due_at}}


def viewer_is_agent(context: dict) -> bool:
    """Whether the request in a serializer context is an agent's or an admin's."""
    from apps.accounts.permissions import is_agent

    request = context.get("request")
    user = getattr(request, "user", None)
    return user is not None and bool(getattr(user, "is_authenticated", False)) and is_agent(user)


class TicketSlaField(serializers.Field):
    """The `sla` of a ticket for whoever asks: `TicketSlaSerializer`'s block for agents
    and admins, `RequesterTicketSlaSerializer`'s for everyone else (requesters, and a
    context without a request: the smaller block is the safe default).

    Nest it as `sla = TicketSlaField(source="*", read_only=True)`.
    """

    def to_representation(self, ticket):
        serializer = TicketSlaSerializer if viewer_is_agent(self.context) else RequesterTicketSlaSerializer
        return serializer(context=self.context).to_representation(ticket)


class TicketSlaFieldSchema(OpenApiSerializerFieldExtension):
    """OpenAPI: `anyOf` the two blocks (the agent's block also satisfies the requester's
    schema, which allows extra properties, so `oneOf` would be wrong)."""

    target_class = TicketSlaField

    def map_serializer_field(self, auto_schema, direction):
        return {
            "anyOf": [
                auto_schema.resolve_serializer(TicketSlaSerializer, direction).ref,
                auto_schema.resolve_serializer(RequesterTicketSlaSerializer, direction).ref,
            ]
        }


# --- Policies ---------------------------------------------------------------------------------


class TargetSerializer(InputSerializer):
    first_response = serializers.IntegerField(required=False, allow_null=True, help_text="Minutes of business time.")
    resolution = serializers.IntegerField(required=False, allow_null=True, help_text="Minutes of business time.")


class StepSerializer(InputSerializer):
    metric = serializers.ChoiceField(choices=StepMetric.choices, default=StepMetric.ANY)
    at_percent = serializers.IntegerField(min_value=1, max_value=100, help_text="A warning threshold, or 100 (breach).")
    action = serializers.ChoiceField(choices=EscalationAction.choices)
    team = IdField(required=False, allow_null=True, default=None, help_text="For reassign_team only.")


class PolicyInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    order = serializers.IntegerField(required=False, default=100, min_value=0, max_value=2**31 - 1)
    active = serializers.BooleanField(required=False, default=True, help_text="False: a draft that applies to no ticket.")
    calendar = IdField()
    targets = serializers.DictField(
        child=TargetSerializer(), help_text=f"Priority ({', '.join(PRIORITIES)}) -> minutes of business time."
    )
    categories = serializers.ListField(child=IdField(), required=False, default=list, max_length=500)
    teams = serializers.ListField(child=IdField(), required=False, default=list, max_length=500)
    pause_statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=[(s, s) for s in PAUSABLE_STATUSES]), required=False, default=["pending"]
    )
    warning_thresholds = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=[50, 75, 90], max_length=20
    )
    escalations = serializers.ListField(child=StepSerializer(), required=False, default=list, max_length=50)


class PolicyPatchSerializer(PolicyInputSerializer):
    """PATCH: every field optional; missing ones keep their stored value."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty


class StepOutputSerializer(serializers.Serializer):
    metric = serializers.CharField(read_only=True)
    at_percent = serializers.IntegerField(read_only=True)
    action = serializers.CharField(read_only=True)
    team = serializers.IntegerField(source="team_id", read_only=True, allow_null=True)


class PolicyOutputSerializer(serializers.ModelSerializer):
    calendar = serializers.IntegerField(source="calendar_id", read_only=True)
    calendar_name = serializers.CharField(source="calendar.name", read_only=True)
    categories = serializers.SerializerMethodField()
    teams = serializers.SerializerMethodField()
    escalations = StepOutputSerializer(many=True, read_only=True)
    targets = serializers.SerializerMethodField()

    class Meta:
        model = SlaPolicy
        fields = [
            "id",
            "name",
            "description",
            "order",
            "active",
            "calendar",
            "calendar_name",
            "targets",
            "categories",
            "teams",
            "pause_statuses",
            "warning_thresholds",
            "escalations",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_categories(self, obj: SlaPolicy) -> list[int]:
        return sorted(c.pk for c in obj.categories.all())

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_teams(self, obj: SlaPolicy) -> list[int]:
        return sorted(t.pk for t in obj.teams.all())

    @extend_schema_field(serializers.DictField(child=TargetSerializer()))
    def get_targets(self, obj: SlaPolicy) -> dict:
        return {p: dict(obj.targets[p]) for p in PRIORITIES if p in (obj.targets or {})}


# --- Calendars and dashboard --------------------------------------------------------------------


class ShiftOutputSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(read_only=True, help_text="0 = Monday.")
    start = serializers.TimeField(read_only=True)
    end = serializers.TimeField(read_only=True, help_text="At or before start: ends the next day.")


class CalendarOutputSerializer(serializers.ModelSerializer):
    shifts = ShiftOutputSerializer(many=True, read_only=True)
    custom_holidays = serializers.SerializerMethodField()

    class Meta:
        model = SlaCalendar
        fields = ["id", "name", "timezone", "always_open", "holiday_country", "holiday_subdivision", "shifts", "custom_holidays"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.DateField()))
    def get_custom_holidays(self, obj: SlaCalendar) -> list:
        return [h.date for h in obj.extra_holidays.all()]


class DashboardRowSerializer(serializers.Serializer):
    team_id = serializers.IntegerField(allow_null=True)
    team = serializers.CharField()
    on_track = serializers.IntegerField()
    at_risk = serializers.IntegerField()
    paused = serializers.IntegerField()
    breached = serializers.IntegerField()
    none = serializers.IntegerField()
    total = serializers.IntegerField()
