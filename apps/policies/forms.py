"""Admin forms: rules are validated by the engine and its errors land on the right field."""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from apps.core.errors import ApplicationError

from . import engine
from .models import PolicyRule, PolicySet
from .services import policy_rules_validate
from .simulation import MAX_DAYS

RULE_FIELDS = [
    "name",
    "subject",
    "action",
    "effect",
    "priority",
    "conditions",
    "require_approval",
    "cap_limit",
    "cap_window",
    "cap_scope",
]
# engine error key -> form field (None: shown above the rule)
ERROR_FIELDS = {
    "name": "name",
    "subject": "subject",
    "action": "action",
    "effect": "effect",
    "priority": "priority",
    "conditions": "conditions",
    "cap": None,
    "obligations": None,
    "rule": None,
}


class PrettyJSONField(forms.JSONField):
    def prepare_value(self, value):
        if isinstance(value, str) or value is None:
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


def error_messages(exc: ApplicationError) -> list[str]:
    """Every message of an ApplicationError, located: `rules[2].action: unknown action 'x'`."""
    if not exc.errors:
        return [exc.message]
    return [f"{key}: {message}" if key != "rules" else message for key, messages in exc.errors.items() for message in messages]


class PolicyRuleForm(forms.ModelForm):
    conditions = PrettyJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 90, "style": "font-family: monospace"}),
        help_text=PolicyRule._meta.get_field("conditions").help_text,
    )

    class Meta:
        model = PolicyRule
        fields = RULE_FIELDS
        widgets = {"subject": forms.TextInput(attrs={"size": 50})}

    def clean(self):
        cleaned = super().clean()
        self.rule_data = None
        if self.errors:
            return cleaned
        draft = PolicyRule(**{name: cleaned.get(name) for name in RULE_FIELDS if name != "cap_scope"})
        draft.cap_scope = cleaned.get("cap_scope") or ""
        rule_data = draft.as_rule_data()
        try:
            engine.parse_rule(rule_data)
        except engine.RuleInvalid as exc:
            for key, messages in exc.errors.items():
                field = ERROR_FIELDS.get(key)
                prefix = "" if field else f"{key}: "
                for message in messages:
                    self.add_error(field, prefix + message)
            return cleaned
        self.rule_data = rule_data
        return cleaned


class PolicyRuleFormSet(BaseInlineFormSet):
    """The whole rule set: each form alone, then the set (unique names, no lock-out)."""

    actor = None  # set per request by the inline's get_formset

    def clean(self):
        super().clean()
        self.rules_data: list[dict] = []
        if any(self.errors):
            return
        for form in self.forms:
            if self._should_delete_form(form):
                continue
            if getattr(form, "rule_data", None) is None:
                continue  # an empty extra form
            self.rules_data.append(form.rule_data)
        try:
            policy_rules_validate(actor=self.actor, rules=self.rules_data)
        except ApplicationError as exc:
            raise ValidationError(error_messages(exc)) from exc


class PolicySetForm(forms.ModelForm):
    change_comment = forms.CharField(
        label=_("Comment for the new version"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text=_("Kept with the new version when the rules change."),
    )

    class Meta:
        model = PolicySet
        fields = ["mode", "audit_allows"]


class PolicySimulateForm(forms.Form):
    rules = PrettyJSONField(
        label=_("Draft rules (JSON)"),
        widget=forms.Textarea(attrs={"rows": 28, "cols": 110, "style": "font-family: monospace"}),
        help_text=_("A JSON list of rules, in the same format as a policy version (docs/policies.md)."),
    )
    days = forms.IntegerField(label=_("Days of decisions to replay"), min_value=1, max_value=MAX_DAYS, initial=7)
