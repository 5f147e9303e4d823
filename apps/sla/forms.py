"""Admin forms of the SLA app. They run the same checks as the services
(`validation.py`), so a bad policy or calendar is refused with the message on the field
it concerns; saving then goes through the services."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from . import conf
from .choices import PAUSABLE_STATUSES, PRIORITIES, Metric, StepMetric
from .models import SlaCalendar, SlaPolicy
from .validation import (
    CalendarInput,
    PolicyInput,
    ShiftInput,
    StepInput,
    calendar_problems,
    step_problems,
    thresholds_problems,
)

TARGET_FIELDS = {(p, m): f"{p.lower()}_{m}" for p in PRIORITIES for m in Metric.values}


def _alive(formset) -> list:
    """The forms of an inline formset that will exist after saving (filled in, not deleted)."""
    return [f for f in formset.forms if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE")]


# --- Calendars ---------------------------------------------------------------------------------


class SlaCalendarForm(forms.ModelForm):
    class Meta:
        model = SlaCalendar
        fields = ["name", "timezone", "always_open", "holiday_country", "holiday_subdivision"]

    def clean(self):
        data = super().clean()
        problems = calendar_problems(
            CalendarInput(
                name=data.get("name") or "",
                timezone=data.get("timezone") or "",
                always_open=True,  # the hours are checked by their formset
                holiday_country=data.get("holiday_country") or "",
                holiday_subdivision=data.get("holiday_subdivision") or "",
            )
        )
        for key, messages in problems.items():
            for message in messages:
                self.add_error(key if key in self.fields else None, message)
        return data


class ShiftFormSet(BaseInlineFormSet):
    """Refuses a calendar without hours (unless 24x7) and overlapping shifts."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        shifts = [
            ShiftInput(weekday=f.cleaned_data["weekday"], start=f.cleaned_data["start"], end=f.cleaned_data["end"])
            for f in _alive(self)
            if f.cleaned_data.get("weekday") is not None and f.cleaned_data.get("start") and f.cleaned_data.get("end")
        ]
        problems = calendar_problems(
            CalendarInput(name="-", timezone="UTC", always_open=bool(self.instance.always_open), shifts=shifts)
        )
        if problems.get("shifts"):
            raise ValidationError(problems["shifts"])


# --- Policies ----------------------------------------------------------------------------------


class PercentagesField(forms.Field):
    """Whole percentages typed as "50, 75, 90" (commas or semicolons, an optional %) and
    shown the same way: the stored list is rendered as it is typed, so an unchanged form
    sends back what it showed and compares equal to the stored list."""

    widget = forms.TextInput

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value) -> list[int]:
        if isinstance(value, list | tuple):
            return [int(v) for v in value]
        values = []
        for part in str(value or "").replace(";", ",").split(","):
            part = part.strip().rstrip("%").strip()
            if not part:
                continue
            try:
                values.append(int(part))
            except ValueError as exc:
                raise ValidationError(_("%(value)s is not a whole percentage.") % {"value": part}) from exc
        return values


def _target_field(priority: str, metric: str) -> forms.IntegerField:
    return forms.IntegerField(label=f"{priority} {Metric(metric).label.lower()} (minutes)", required=False)


class SlaPolicyForm(forms.ModelForm):
    pause_statuses = forms.MultipleChoiceField(
        label=_("Pause on statuses"),
        choices=[(s, s) for s in PAUSABLE_STATUSES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("While a ticket has one of these statuses its clocks stand still."),
    )
    warning_thresholds = PercentagesField(
        label=_("Warnings at (% of target)"),
        required=False,
        help_text=_("Comma-separated, between 1 and 99, e.g. 50, 75, 90. The breach (100 %) is always watched."),
    )

    # One field per priority and metric (TARGET_FIELDS); no bounds here, so that zero and
    # negative values get the services' explanation.
    p1_first_response = _target_field("P1", Metric.FIRST_RESPONSE)
    p1_resolution = _target_field("P1", Metric.RESOLUTION)
    p2_first_response = _target_field("P2", Metric.FIRST_RESPONSE)
    p2_resolution = _target_field("P2", Metric.RESOLUTION)
    p3_first_response = _target_field("P3", Metric.FIRST_RESPONSE)
    p3_resolution = _target_field("P3", Metric.RESOLUTION)
    p4_first_response = _target_field("P4", Metric.FIRST_RESPONSE)
    p4_resolution = _target_field("P4", Metric.RESOLUTION)

    class Meta:
        model = SlaPolicy
        fields = [
            "name",
            "description",
            "order",
            "active",
            "calendar",
            "categories",
            "teams",
            "pause_statuses",
            "warning_thresholds",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        targets = (self.instance.targets or {}) if self.instance.pk else {}
        for (priority, metric), name in TARGET_FIELDS.items():
            self.initial.setdefault(name, (targets.get(priority) or {}).get(metric))
        if not self.instance.pk:
            self.initial.setdefault("pause_statuses", list(self.instance.pause_statuses or []))

    def clean_warning_thresholds(self) -> list[int]:
        clean, problems = thresholds_problems(self.cleaned_data.get("warning_thresholds") or [])
        if problems:
            raise ValidationError(problems)
        return clean

    def targets(self) -> dict:
        data = self.cleaned_data
        targets: dict[str, dict[str, int | None]] = {}
        for (priority, metric), name in TARGET_FIELDS.items():
            value = data.get(name)
            if value is not None:
                targets.setdefault(priority, {})[metric] = value
        return targets

    def policy_input(self, escalations=()) -> PolicyInput:
        data = self.cleaned_data
        return PolicyInput(
            name=data.get("name") or "",
            description=data.get("description") or "",
            order=data.get("order") if data.get("order") is not None else 100,
            active=bool(data.get("active")),
            calendar=data.get("calendar"),
            targets=self.targets(),
            categories=list(data.get("categories") or []),
            teams=list(data.get("teams") or []),
            pause_statuses=list(data.get("pause_statuses") or []),
            warning_thresholds=list(data.get("warning_thresholds") or []),
            escalations=list(escalations),
        )

    def clean(self):
        from .services import sla_policy_problems

        data = super().clean()
        if self.errors:
            return data
        problems = sla_policy_problems(self.policy_input(), policy=self.instance if self.instance.pk else None)
        for key, messages in problems.items():
            field = None
            if key.startswith("targets."):
                parts = key.split(".")
                metric = parts[2] if len(parts) > 2 else Metric.FIRST_RESPONSE
                field = TARGET_FIELDS.get((parts[1], metric))
            elif key in self.fields:
                field = key
            for message in messages:
                if key == "name" and "already exists" in message:
                    continue  # the model's unique constraint says so on the field already
                self.add_error(field, message)
        self.instance.targets = self.targets()
        return data


class EscalationFormSet(BaseInlineFormSet):
    """Each step must run at one of the policy's thresholds (or 100 %) and name a team
    exactly when it reassigns."""

    def clean(self):
        super().clean()
        thresholds = list(self.instance.warning_thresholds or [])
        for form in _alive(self):
            data = form.cleaned_data
            if data.get("at_percent") is None or not data.get("action"):
                continue
            step = StepInput(
                at_percent=data["at_percent"],
                action=data["action"],
                metric=data.get("metric") or StepMetric.ANY,
                team=data.get("team"),
            )
            for message in step_problems(step, thresholds):
                form.add_error(None, message)

    def steps(self) -> list[StepInput]:
        found = []
        for index, form in enumerate(f for f in _alive(self) if f.cleaned_data.get("action")):
            data = form.cleaned_data
            found.append(
                StepInput(
                    at_percent=data["at_percent"],
                    action=data["action"],
                    metric=data.get("metric") or StepMetric.ANY,
                    team=data.get("team"),
                    position=data.get("position") or index,
                )
            )
        return found


class SimulateForm(forms.Form):
    policy = forms.ModelChoiceField(queryset=SlaPolicy.objects.none(), label=_("Policy"))
    days = forms.IntegerField(label=_("Last days"), min_value=1, initial=30)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = SlaPolicy.objects.select_related("calendar").order_by("active", "order", "pk")
        self.fields["policy"].label_from_instance = lambda p: f"{p.name}{'' if p.active else ' (draft)'}"
        most = int(conf.get("WARDEN_SLA_SIMULATION_MAX_DAYS"))
        self.fields["days"].validators.append(MaxValueValidator(most))
        self.fields["days"].widget.attrs["max"] = most
