"""Governance policies of one tenant (tenant schema).

* `PolicySet`: the tenant's one set: mode (enforce or dry run), whether allows are
  audited, and the version in force.
* `PolicyVersion`: an immutable snapshot of the rules (canonical JSON, validated by
  `engine.parse_rules`). Publishing always creates a new version; old ones stay.
* `PolicyRule`: the editable working copy of the current version's rules, one row per
  rule, so the admin can show field-level errors. Only `services.policy_publish`
  writes it, always together with a new version; decisions never read it.
* `DecisionLog`: one row per decision, with the facts the rules read: the input of
  simulation.
* `CapCounter`: fixed-window counters for cap obligations.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import engine


class Mode(models.TextChoices):
    ENFORCE = "enforce", _("Enforce")
    DRY_RUN = "dry_run", _("Dry run (log only, never block)")


class Effect(models.TextChoices):
    ALLOW = engine.ALLOW, _("Allow")
    DENY = engine.DENY, _("Deny")


class CapScope(models.TextChoices):
    ACTION = engine.SCOPE_ACTION, _("Per action")
    CONNECTOR = engine.SCOPE_CONNECTOR, _("Per connector")


class Outcome(models.TextChoices):
    ALLOWED = "allowed", _("Allowed")
    DENIED = "denied", _("Denied by the rules")
    CAP_EXCEEDED = "cap_exceeded", _("Denied: cap exceeded")
    ERROR = "error", _("Denied: evaluation error")


class ImmutableVersion(Exception):
    """Policy versions are never changed or deleted; publish a new one."""


class PolicySet(models.Model):
    singleton = models.BooleanField(default=True, editable=False)
    mode = models.CharField(
        _("mode"),
        max_length=16,
        choices=Mode.choices,
        default=Mode.ENFORCE,
        help_text=_("Dry run evaluates and logs every decision but never blocks anything."),
    )
    audit_allows = models.BooleanField(
        _("audit allowed decisions"),
        default=False,
        help_text=_("Denials are always audited; this also audits every allowed decision."),
    )
    current_version = models.ForeignKey(
        "PolicyVersion",
        verbose_name=_("version in force"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("policy set")
        verbose_name_plural = _("policy set")
        constraints = [
            models.UniqueConstraint(
                fields=["singleton"],
                name="policies_policyset_single",
                violation_error_message=_("A tenant has exactly one policy set."),
            ),
            models.CheckConstraint(condition=models.Q(singleton=True), name="policies_policyset_singleton_true"),
        ]

    def __str__(self) -> str:
        number = self.current_version.number if self.current_version_id else None
        return f"Policies ({self.get_mode_display()}, version {number or '-'})"


class PolicyVersion(models.Model):
    number = models.PositiveIntegerField(_("version"), unique=True)
    rules = models.JSONField(_("rules"))
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by_label = models.CharField(_("created by (label)"), max_length=200)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ImmutableVersion(f"policy version {self.number} is immutable; publish a new version")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableVersion(f"policy version {self.number} is kept forever")

    @property
    def rule_count(self) -> int:
        return len(self.rules) if isinstance(self.rules, list) else 0


class PolicyRule(models.Model):
    policy_set = models.ForeignKey(PolicySet, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(_("name"), max_length=engine.MAX_NAME_LENGTH)
    subject = models.CharField(
        _("subject"),
        max_length=500,
        help_text=_(
            "*, system, role:requester|agent|admin, user:<id>, team:<id> or integration:<name>; several separated by commas."
        ),
    )
    action = models.CharField(
        _("action"), max_length=100, help_text=_("A registered action (ticket.create), a pattern (ticket.*) or *.")
    )
    effect = models.CharField(_("effect"), max_length=8, choices=Effect.choices, default=Effect.ALLOW)
    priority = models.IntegerField(
        _("priority"), default=0, help_text=_("Higher first; at equal priority a deny beats an allow.")
    )
    conditions = models.JSONField(
        _("conditions"),
        default=list,
        blank=True,
        help_text=_(
            'A JSON list, e.g. [{"field": "resource.requester_id", "op": "is_actor"}, '
            '{"field": "resource.tags", "op": "any", "value": ["vip"]}].'
        ),
    )
    require_approval = models.BooleanField(_("requires approval"), default=False)
    cap_limit = models.PositiveIntegerField(_("cap: limit"), null=True, blank=True)
    cap_window = models.PositiveIntegerField(_("cap: window (seconds)"), null=True, blank=True)
    cap_scope = models.CharField(_("cap: scope"), max_length=16, choices=CapScope.choices, blank=True)

    class Meta:
        verbose_name = _("policy rule")
        verbose_name_plural = _("policy rules")
        ordering = ["-priority", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy_set", "name"],
                name="policies_rule_unique_name",
                violation_error_message=_("Two rules cannot have the same name."),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def as_rule_data(self) -> dict:
        """The rule in the JSON form the engine parses (not yet validated)."""
        subjects = [part.strip() for part in self.subject.split(",") if part.strip()]
        cap = None
        if self.cap_limit is not None or self.cap_window is not None or self.cap_scope:
            cap = {"limit": self.cap_limit, "window": self.cap_window, "scope": self.cap_scope or engine.SCOPE_ACTION}
        return {
            "name": self.name,
            "subject": subjects[0] if len(subjects) == 1 else subjects,
            "action": self.action,
            "effect": self.effect,
            "priority": self.priority,
            "conditions": self.conditions if self.conditions is not None else [],
            "obligations": {engine.REQUIRE_APPROVAL: self.require_approval, engine.CAP: cap},
        }

    @classmethod
    def from_rule(cls, rule: engine.Rule, *, policy_set: PolicySet) -> PolicyRule:
        return cls(
            policy_set=policy_set,
            name=rule.name,
            subject=", ".join(str(subject) for subject in rule.subjects),
            action=rule.action,
            effect=rule.effect,
            priority=rule.priority,
            conditions=[condition.as_dict() for condition in rule.conditions],
            require_approval=rule.require_approval,
            cap_limit=rule.cap.limit if rule.cap else None,
            cap_window=rule.cap.window if rule.cap else None,
            cap_scope=rule.cap.scope if rule.cap else "",
        )


class DecisionLog(models.Model):
    # No foreign key to the user on purpose: one INSERT, no constraint check, and the
    # row outlives the user. `actor_label` is `user:<id>`, `integration:<name>` or
    # `system`; the facts hold the rest (role, teams) as they were at decision time.
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    actor_label = models.CharField(_("actor"), max_length=200)
    action = models.CharField(_("action"), max_length=100)
    resource_type = models.CharField(_("resource type"), max_length=100, blank=True)
    resource_id = models.CharField(_("resource id"), max_length=100, blank=True)
    facts = models.JSONField(_("facts"), default=dict)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    allowed = models.BooleanField(_("let through"), help_text=_("True in dry run even when the rules deny."))
    reasons = models.JSONField(_("reasons"), default=list)
    rule_version = models.PositiveIntegerField(_("rule version"), null=True, blank=True)
    mode = models.CharField(_("mode"), max_length=16, choices=Mode.choices)

    class Meta:
        verbose_name = _("policy decision")
        verbose_name_plural = _("policy decisions")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["created_at"], name="policies_decision_time"),
            models.Index(fields=["action", "created_at"], name="policies_decision_action_time"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action}: {self.outcome}"

    @property
    def would_allow(self) -> bool:
        return self.outcome == Outcome.ALLOWED

    @property
    def rules_allowed(self) -> bool:
        """The rules' own verdict: a cap denial still means the rules allowed it."""
        return self.outcome in (Outcome.ALLOWED, Outcome.CAP_EXCEEDED)


class CapCounter(models.Model):
    key = models.CharField(max_length=200)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("cap counter")
        verbose_name_plural = _("cap counters")
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="policies_cap_bucket_unique")]

    def __str__(self) -> str:
        return f"{self.key} @ {self.window_start:%Y-%m-%d %H:%M:%S}: {self.count}"
