"""The tenant's triage rules and settings (policy `triage.configure`, audited), the rule
test box and the dry run over recent tickets."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.policies.services import policy_require
from apps.tickets.models import Ticket

from .. import matching, selectors
from ..models import Rule, TriageSettings
from .classify import rule_changes
from .proposals import TRIAGE_CONFIGURE

RULE_FIELDS = ("name", "position", "enabled", "keywords", "pattern", "source", "in_category", "requester_domain",
               "set_category", "set_team", "set_impact", "set_urgency", "work_note", "confidence")
SETTINGS_FIELDS = ("enabled", "confidence_floor", "auto_approve_rules", "auto_approve_llm", "auto_approve_threshold")
DRY_RUN_MAX = 1000


def _as_application_error(exc: ValidationError) -> ApplicationError:
    errors = {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
    first = next(iter(errors.values()))[0] if errors else _("Invalid rule.")
    return ApplicationError(first, errors=errors)


def rule_validate(rule: Rule) -> None:
    """What the model cannot say by itself: a rule needs a condition and a proposal, and
    its regular expression must compile."""
    errors: dict[str, list[str]] = {}
    try:
        selectors.rule_spec(rule)
    except matching.PatternInvalid as exc:
        errors["pattern"] = [_("Not a valid regular expression: %(error)s") % {"error": exc}]
    if not errors and not selectors.rule_spec(rule).has_conditions:
        errors["keywords"] = [_("Give at least one condition (keywords, a pattern, a source, a category or an "
                                "organisation): a rule without one would route every ticket.")]
    if not rule_changes(rule):
        errors["set_category"] = [_("Say what the rule proposes: a category, a team, an impact, an urgency or a "
                                    "work note.")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def rule_save(*, actor, rule: Rule) -> Rule:
    """Create or change a rule (the instance as the admin form filled it)."""
    policy_require(actor, TRIAGE_CONFIGURE, None, {"object": "rule", "operation": "save"})
    try:
        rule.full_clean()
        rule_validate(rule)
    except ValidationError as exc:
        raise _as_application_error(exc) from None
    created = rule.pk is None
    previous = model_to_dict(Rule.objects.get(pk=rule.pk), fields=RULE_FIELDS) if not created else {}
    rule.updated_at = timezone.now()
    rule.save()
    now = model_to_dict(rule, fields=RULE_FIELDS)
    changed = sorted(k for k in RULE_FIELDS if previous.get(k) != now.get(k)) if not created else sorted(RULE_FIELDS)
    audit_record(actor=actor, action="triage.rule_created" if created else "triage.rule_changed", target=rule,
                 payload={"rule_id": rule.pk, "name": rule.name, "fields": changed, "enabled": rule.enabled})
    return rule


@transaction.atomic
def rule_delete(*, actor, rule: Rule) -> None:
    policy_require(actor, TRIAGE_CONFIGURE, None, {"object": "rule", "operation": "delete"})
    audit_record(actor=actor, action="triage.rule_deleted", target=rule, payload={"rule_id": rule.pk, "name": rule.name})
    rule.delete()


@transaction.atomic
def settings_update(*, actor, **values) -> TriageSettings:
    policy_require(actor, TRIAGE_CONFIGURE, None, {"object": "settings", "operation": "update"})
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise ApplicationError(f"unknown triage settings: {', '.join(sorted(unknown))}")
    TriageSettings.objects.get_or_create(singleton=True)  # the defaults, saved the first time they change
    row = TriageSettings.objects.select_for_update().get(singleton=True)
    previous = model_to_dict(row, fields=SETTINGS_FIELDS)
    for name, value in values.items():
        setattr(row, name, value)
    try:
        row.full_clean()
    except ValidationError as exc:
        raise _as_application_error(exc) from None
    if row.auto_approve_threshold < row.confidence_floor:
        raise ApplicationError(_("The automatic approval threshold cannot be below the confidence floor."),
                               errors={"auto_approve_threshold": [_("At least the confidence floor.")]})
    row.updated_at = timezone.now()
    row.save()
    now = model_to_dict(row, fields=SETTINGS_FIELDS)
    audit_record(actor=actor, action="triage.settings_changed", target=row,
                 payload={k: {"from": str(previous[k]), "to": str(now[k])} for k in SETTINGS_FIELDS
                          if previous[k] != now[k]})
    return row


# --- Trying a rule without saving it -----------------------------------------------------------


@dataclass(frozen=True)
class RuleTest:
    matched: bool
    why: list[str]


def rule_test(rule: Rule, *, title: str, description: str = "", source: str = "", requester_email: str = "",
              category_id: int | None = None) -> RuleTest:
    """The test box: would this rule (saved or not) match a ticket like this? Reads only."""
    try:
        spec = selectors.rule_spec(rule)
    except matching.PatternInvalid as exc:
        raise ApplicationError(_("Not a valid regular expression: %(error)s") % {"error": exc},
                               errors={"pattern": [str(exc)]}) from None
    parents = selectors.category_parents()
    facts = matching.Facts(title=title, description=description, source=source, category_id=category_id,
                           category_ancestry=selectors._ancestry(category_id, parents), requester_email=requester_email)
    why = matching.reasons(spec, facts)
    return RuleTest(matched=why is not None, why=why or [])


def rule_dry_run(rule: Rule, *, last: int = 200) -> tuple[int, list[Ticket]]:
    """The dry run: of the last `last` tickets (at most 1000), how many the rule matches,
    and those tickets (newest first). Reads only; nothing is proposed."""
    last = max(1, min(int(last), DRY_RUN_MAX))
    try:
        spec = selectors.rule_spec(rule)
    except matching.PatternInvalid as exc:
        raise ApplicationError(_("Not a valid regular expression: %(error)s") % {"error": exc},
                               errors={"pattern": [str(exc)]}) from None
    parents = selectors.category_parents()
    recent = list(Ticket.objects.select_related("requester").order_by("-number")[:last])
    hits = [t for t in recent if matching.reasons(spec, selectors.facts_for(t, parents=parents)) is not None]
    return len(recent), hits
