"""The preferences form: per kind, which channels; the email digest; quiet hours."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.accounts import permissions

from . import selectors
from .kinds import ADMIN_ALERTS, AGENTS, SPECS, Channel, Kind
from .models import Digest, Profile


def kinds_for(user) -> list[Kind]:
    """The kinds a person can be told of (requesters: not the agents' ones)."""
    agent = permissions.is_agent(user)
    return [k for k in Kind if k not in ADMIN_ALERTS and (agent or SPECS[k].audience != AGENTS)]


class PreferencesForm(forms.Form):
    email_digest = forms.ChoiceField(label=_("Email"), choices=Digest.choices)
    quiet_from = forms.TimeField(label=_("Quiet hours from"), required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    quiet_until = forms.TimeField(label=_("until"), required=False, widget=forms.TimeInput(attrs={"type": "time"}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        profile = Profile.objects.filter(user=user).first() or Profile(user=user)
        self.initial.update(email_digest=profile.email_digest, quiet_from=profile.quiet_from,
                            quiet_until=profile.quiet_until)
        self.rows = []
        for kind in kinds_for(user):
            on = selectors.channels_for([user], kind.value)[user.pk]
            fields = []
            for channel in Channel:
                name = f"{kind.value}.{channel.value}"
                fixed = kind == Kind.MENTIONED and channel == Channel.IN_APP  # always shown in the app
                self.fields[name] = forms.BooleanField(
                    label=f"{kind.label}: {channel.label}", required=False, initial=fixed or channel.value in on,
                    disabled=fixed,
                )
                fields.append(self[name])
            self.rows.append((kind.label, fields))

    def clean(self):
        data = super().clean()
        if bool(data.get("quiet_from")) != bool(data.get("quiet_until")):
            self.add_error("quiet_until", _("Give both times, or neither."))
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        channels = {name: bool(data.get(name)) for name in self.fields if "." in name}
        return {
            "channels": channels,
            "email_digest": data["email_digest"],
            "quiet_from": data.get("quiet_from") or None,
            "quiet_until": data.get("quiet_until") or None,
        }

    def add_service_errors(self, exc) -> None:
        for field, problems in (exc.errors or {"__all__": [exc.message]}).items():
            for problem in problems:
                self.add_error(field if field in self.fields else None, problem)
