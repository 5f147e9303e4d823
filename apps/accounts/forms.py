"""Forms of the accounts app: a person's own profile (time zone), and the time zone
picker the admin pages share."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.core import timezones


class TimeZoneField(forms.ChoiceField):
    """A select of IANA zones grouped by area, each with its current UTC offset; the
    first option (value "") is `default_label`, or no empty option when it is None.
    Call `zone_choices(current=...)` when the form is built, so that a stored legacy name
    is offered and the offsets are today's."""

    def __init__(self, *, default_label=None, **kwargs):
        self.default_label = default_label
        kwargs.setdefault("label", _("Time zone"))
        kwargs.setdefault("required", default_label is None)
        super().__init__(choices=[], **kwargs)

    def zone_choices(self, *, current: str = "") -> list:
        choices = timezones.zone_choices(current=current)
        return ([("", self.default_label)] if self.default_label is not None else []) + choices


def time_zone_field(**kwargs) -> TimeZoneField:
    return TimeZoneField(**kwargs)


class ProfileTimeZoneForm(forms.Form):
    """What a person changes about themselves on their profile page."""

    time_zone = TimeZoneField(
        default_label="",  # set per request: "Organisation default: Europe/Warsaw (CET)"
        help_text=_("Dates and times on every page and in your emails are shown in this zone."),
    )

    def __init__(self, *args, organisation_zone: str, current: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["time_zone"]
        field.default_label = _("Organisation default: %(zone)s (%(abbreviation)s)") % {
            "zone": organisation_zone, "abbreviation": timezones.abbreviation(name=organisation_zone)}
        field.choices = field.zone_choices(current=current)
        field.widget.attrs["autocomplete"] = "off"
