"""Forms of the triage admin: rules and settings saved through the services while the
form validates (ADR 0009: a refusal, e.g. an invalid regular expression or a rule with
no condition, comes back on the field), and the rule's test box and dry run (reads only)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.tickets.admin import ServiceModelForm
from apps.tickets.choices import TicketSource

from .models import Rule, TriageSettings
from .services import rule_save, settings_update
from .services.rules import DRY_RUN_MAX, RULE_FIELDS, SETTINGS_FIELDS


class RuleForm(ServiceModelForm):
    class Meta:
        model = Rule
        fields = list(RULE_FIELDS)

    def save_through_service(self, actor) -> Rule:
        rule = self.instance
        for name in RULE_FIELDS:
            if name in self.cleaned_data:
                setattr(rule, name, self.cleaned_data[name])
        return rule_save(actor=actor, rule=rule)


class RuleListForm(ServiceModelForm):
    """The rules list's editable columns (order, enabled): a changed row is saved
    through `rule_save` like the change page; an unchanged row is not touched."""

    class Meta:
        model = Rule
        fields = ["position", "enabled"]

    def _post_clean(self) -> None:
        if self.has_changed():
            super()._post_clean()

    def save_through_service(self, actor) -> Rule:
        rule = Rule.objects.get(pk=self.instance.pk)
        rule.position, rule.enabled = self.cleaned_data["position"], self.cleaned_data["enabled"]
        return rule_save(actor=actor, rule=rule)


class SettingsForm(ServiceModelForm):
    class Meta:
        model = TriageSettings
        fields = list(SETTINGS_FIELDS)

    def save_through_service(self, actor) -> TriageSettings:
        return settings_update(actor=actor, **{name: self.cleaned_data[name] for name in SETTINGS_FIELDS
                                               if name in self.cleaned_data})


class RuleTryForm(forms.Form):
    """The test box (a ticket like this: matched or not, and why) and the dry run (the
    last N tickets). Nothing is saved."""

    ACTION_TEST, ACTION_DRY_RUN = "test", "dry_run"

    title = forms.CharField(label=_("Title"), required=False, max_length=300)
    description = forms.CharField(label=_("Description"), required=False, max_length=5000,
                                  widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    source = forms.ChoiceField(label=_("Source"), required=False, choices=[("", _("any")), *TicketSource.choices])
    requester_email = forms.EmailField(label=_("Requester's email"), required=False)
    last = forms.IntegerField(label=_("Dry run over the last tickets"), min_value=1, max_value=DRY_RUN_MAX,
                              initial=200, required=False,
                              help_text=_("At most %(max)s. Nothing is proposed or changed.") % {"max": DRY_RUN_MAX})

    def clean(self):
        data = super().clean()
        action = self.data.get("action")
        if action == self.ACTION_TEST and not (data.get("title") or data.get("description")):
            self.add_error("title", _("Give a title or a description to test."))
        if action == self.ACTION_DRY_RUN and not data.get("last"):
            self.add_error("last", _("How many of the last tickets?"))
        return data
