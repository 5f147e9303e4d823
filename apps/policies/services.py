"""The policy decision point, and every write to the tenant's policies.

Callers (every service that writes) use two functions:

    decision = policy_require(actor, Action.TICKET_TRANSITION, ticket, {"to": "open"})
    decision = decide(actor, "connector.write", proposal, {"connector": "servicenow"})

Both evaluate the rule set in force, consume caps, write one `DecisionLog` row and,
for a denial (or an allow when the tenant audits allows), one audit event: all in the
caller's transaction. Anything that goes wrong while evaluating denies (fail closed)
with the reason "evaluation error: <ExceptionClass>" and a `policy.error` audit event.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext
from django_tenants.utils import get_public_schema_name

from apps.core import governance
from apps.core.errors import ApplicationError

from . import engine, selectors
from .actions import ACTIONS, Action, UnknownAction
from .baseline import BASELINE_COMMENT, BASELINE_RULES
from .caps import cap_counters_prune, caps_take_all
from .decisions import DRY_RUN, ENFORCE, Decision, PolicyDenied
from .facts import LiveFacts, resource_ref
from .models import DecisionLog, Mode, Outcome, PolicyRule, PolicySet, PolicyVersion
from .simulation import MAX_DAYS, SimulationResult, policy_simulate
from .subjects import KIND_USER, Integration, actor_kind, actor_label

logger = logging.getLogger(__name__)

__all__ = [
    "Decision",
    "Integration",
    "PolicyDenied",
    "decide",
    "policy_denial_persist",
    "policy_housekeeping",
    "policy_install_baseline",
    "policy_publish",
    "policy_require",
    "policy_rules_validate",
    "policy_settings_update",
    "policy_simulation_run",
    "policy_version_restore",
]

AUDIT_DENIED = "policy.denied"
AUDIT_ALLOWED = "policy.allowed"
AUDIT_ERROR = "policy.error"
AUDIT_PUBLISHED = "policy.published"
AUDIT_SETTINGS_CHANGED = "policy.settings_changed"
AUDIT_SIMULATED = "policy.simulated"

NO_POLICY = "no policy installed"
NO_TENANT = "no tenant: policies live in tenant schemas"
CAP_EXCEEDED = "cap exceeded"


# --- Deciding -------------------------------------------------------------------------


def decide(actor, action: str, resource=None, context: dict | None = None) -> Decision:
    """The verdict of the tenant's rules on `actor` doing `action` to `resource`.

    Never raises for a policy reason: it returns a Decision (denied on any error).
    In dry-run mode `allowed` is True and `would_allow` is the real verdict.
    """
    decision, _ = _decide(actor, action, resource, context)
    return decision


def policy_require(actor, action: str, resource=None, context: dict | None = None) -> Decision:
    """`decide()`, raising PolicyDenied (403) when the decision does not allow."""
    decision, record = _decide(actor, action, resource, context)
    if not decision.allowed:
        raise PolicyDenied(decision, str(action), record=record)
    return decision


def _decide(actor, action: str, resource, context: dict | None) -> tuple[Decision, dict[str, Any]]:
    """Evaluate and record in one savepoint; on any failure, deny and record that.

    Everything that can fail runs inside `transaction.atomic()` (a savepoint in the
    caller's transaction, else a transaction of its own): reading the policy set,
    reading facts, evaluating, taking caps, writing the log row and the audit event. A
    failure anywhere, database errors included, rolls back to the savepoint (caps are
    given back, the caller's transaction stays usable) and the answer becomes a denial
    recorded as `policy.error`. An allow that cannot be recorded is not an allow.
    """
    action = str(action)
    if connection.schema_name == get_public_schema_name():
        logger.warning("policy decision on %s asked in the public schema: denied", action)
        return Decision(False, (NO_TENANT,), (), None, ENFORCE, False), {}
    state = _DecisionState(actor=actor, action=action, resource=resource)
    try:
        with transaction.atomic():
            state.policy = selectors.policy_in_force()
            facts = state.facts = LiveFacts(actor=actor, resource=resource, context=context)
            verdict, outcome = _evaluate(state.policy, action, facts)
            decision = state.decision(verdict, outcome)
            return decision, state.record(decision, outcome)
    except Exception as exc:  # fail closed: whatever broke, the answer is no
        logger.warning("policy decision on %s failed: %r", action, exc, exc_info=True)
        error = exc
    verdict = engine.Verdict(allowed=False, reasons=(f"evaluation error: {type(error).__name__}",))
    decision = state.decision(verdict, Outcome.ERROR)
    return decision, state.record_failure(decision)


class _DecisionState:
    """What one decision has learnt so far; survives a failure part-way through."""

    def __init__(self, *, actor, action: str, resource):
        self.actor, self.action, self.resource = actor, action, resource
        self.policy: selectors.PolicyInForce | None = None
        self.facts: LiveFacts | None = None

    def decision(self, verdict: engine.Verdict, outcome: str) -> Decision:
        mode = self.policy.mode if self.policy is not None else Mode.ENFORCE
        return Decision(
            # Dry run lets a denying *verdict* through, never a failure: a decision
            # that could not be made is not a verdict the tenant asked to trial.
            allowed=verdict.allowed or (mode == DRY_RUN and outcome != Outcome.ERROR),
            reasons=verdict.reasons,
            obligations=verdict.obligations if verdict.allowed else (),
            rule_version=self.policy.version_number if self.policy is not None else None,
            mode=str(mode),
            would_allow=verdict.allowed,
        )

    def _facts(self) -> dict:
        try:
            return self.facts.snapshot() if self.facts is not None else {}
        except Exception:  # a snapshot is plain dict work; never let it stop the record
            return {}

    def record(self, decision: Decision, outcome: str) -> dict[str, Any]:
        return _record(
            actor=self.actor,
            action=self.action,
            resource=self.resource,
            facts=self._facts(),
            decision=decision,
            outcome=outcome,
            audit_allows=self.policy is not None and self.policy.audit_allows,
        )

    def record_failure(self, decision: Decision) -> dict[str, Any]:
        """Record the denial after a failure: log row + audit event, else the event alone."""
        try:
            with transaction.atomic():
                return self.record(decision, Outcome.ERROR)
        except Exception:
            logger.exception("policy: could not write the decision log for the failed decision on %s", self.action)
        try:
            with transaction.atomic():
                resource_type, resource_id = resource_ref(self.resource)
                _audit(
                    self.actor,
                    AUDIT_ERROR,
                    target=None,
                    payload={
                        "decision_id": None,
                        "action": self.action,
                        "outcome": Outcome.ERROR,
                        "enforced": True,
                        "mode": decision.mode,
                        "reasons": list(decision.reasons),
                        "rule_version": decision.rule_version,
                        "resource_type": resource_type,
                        "resource_id": resource_id,
                        "decision_log_failed": True,
                    },
                )
        except Exception:
            # Nothing can be written (database gone, audit broken): the denial stands
            # and the log line above is the only trace.
            logger.exception("policy: could not audit the failed decision on %s; denied anyway", self.action)
        return {}


def _evaluate(policy: selectors.PolicyInForce | None, action: str, facts: LiveFacts) -> tuple[engine.Verdict, str]:
    if action not in ACTIONS:
        raise UnknownAction(action)
    if policy is None or policy.version_id is None:
        return engine.Verdict(allowed=False, reasons=(NO_POLICY,)), Outcome.DENIED
    rules = selectors.policy_rules_compiled(policy)
    verdict = engine.evaluate(rules, action, facts.read)
    facts.top_up(rules.facts_used(action))
    if not verdict.allowed:
        return verdict, Outcome.DENIED
    if not caps_take_all(verdict.obligations, action, facts.read):
        return engine.Verdict(allowed=False, reasons=(CAP_EXCEEDED,), rules=verdict.rules), Outcome.CAP_EXCEEDED
    return verdict, Outcome.ALLOWED


def _record(*, actor, action: str, resource, facts: dict, decision: Decision, outcome: str, audit_allows: bool) -> dict[str, Any]:
    """One DecisionLog INSERT, and the audit event the outcome calls for."""
    resource_type, resource_id = resource_ref(resource)
    log_fields = {
        "created_at": timezone.now(),
        "actor_label": actor_label(actor)[:200],
        "action": action[:100],
        "resource_type": resource_type,
        "resource_id": resource_id,
        "facts": facts,
        "outcome": outcome,
        "allowed": decision.allowed,
        "reasons": list(decision.reasons),
        "rule_version": decision.rule_version,
        "mode": decision.mode,
    }
    log_id = _log_insert(log_fields)
    audit_action = _audit_action(outcome, decision, audit_allows)
    payload = {
        "decision_id": log_id,
        "action": action,
        "outcome": outcome,
        "enforced": not decision.allowed,
        "mode": decision.mode,
        "reasons": list(decision.reasons),
        "rule_version": decision.rule_version,
        "resource_type": resource_type,
        "resource_id": resource_id,
    }
    if audit_action is not None:
        _audit(actor, audit_action, target=_audit_target(resource), payload=payload)
    return {"log_id": log_id, "log": log_fields, "audit_action": audit_action, "payload": payload}


_LOG_JSON_FIELDS = frozenset({"facts", "reasons"})


def _log_insert(fields: dict[str, Any]) -> int:
    """INSERT one DecisionLog row; its id.

    Hand-written for the same reason as `selectors.policy_in_force`: every decision
    writes one, and compiling the ORM INSERT cost more than running it. The columns come
    from the model, JSON goes in as `jsonb`; tests read the rows back through the ORM.
    """
    meta = DecisionLog._meta
    names = list(fields)
    columns = ", ".join(connection.ops.quote_name(meta.get_field(name).column) for name in names)
    values = ", ".join("%s::jsonb" if name in _LOG_JSON_FIELDS else "%s" for name in names)
    params = [json.dumps(fields[name]) if name in _LOG_JSON_FIELDS else fields[name] for name in names]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES ({values}) RETURNING id",  # noqa: S608
            params,
        )
        return int(cursor.fetchone()[0])


def _audit_action(outcome: str, decision: Decision, audit_allows: bool) -> str | None:
    if outcome == Outcome.ERROR:
        return AUDIT_ERROR
    if not decision.would_allow:
        return AUDIT_DENIED
    if audit_allows:
        return AUDIT_ALLOWED
    return None


def _audit_target(resource) -> Model | None:
    if isinstance(resource, Model) and resource.pk is not None:
        return resource
    return None


def _audit(actor, action: str, *, target=None, payload: dict, label: str | None = None) -> None:
    user = actor if _safe_kind(actor) == KIND_USER else None
    governance.record(actor=user, action=action, target=target, payload=payload, actor_label=label or actor_label(actor))


def _safe_kind(actor) -> str | None:
    try:
        return actor_kind(actor)
    except TypeError:
        return None


def policy_denial_persist(exc: PolicyDenied) -> bool:
    """Write a denial again when the caller's rollback took it away.

    `policy_require` records a denial inside the caller's transaction; when the caller
    lets PolicyDenied propagate out of `transaction.atomic`, that record is rolled back
    with everything else. Edges (the API exception handler, the HTML error middleware,
    the Celery task failure hook) call this once the transaction is gone. Returns True
    when it wrote the records again.
    """
    log_id = exc.record.get("log_id")
    if log_id is None:
        return False
    if connection.in_atomic_block:
        return False
    if DecisionLog.objects.filter(pk=log_id).exists():
        return False
    with transaction.atomic():
        log = DecisionLog.objects.create(**exc.record["log"])
        audit_action = exc.record.get("audit_action")
        if audit_action is not None:
            payload = {**exc.record["payload"], "decision_id": log.pk, "recorded_after_rollback": True}
            _audit_label_only(exc.record["log"]["actor_label"], audit_action, payload)
    exc.record["log_id"] = log.pk  # a second call finds it and does nothing
    return True


def policy_denial_persist_any(exc: BaseException) -> bool:
    """`policy_denial_persist` for any exception that reached an edge (the port's hook)."""
    return isinstance(exc, PolicyDenied) and policy_denial_persist(exc)


def _audit_label_only(label: str, action: str, payload: dict) -> None:
    # The actor object may belong to the rolled-back transaction: record the label only.
    governance.record(actor=None, action=action, target=None, payload=payload, actor_label=label)


# --- Changing policies ----------------------------------------------------------------


def policy_install_baseline() -> None:
    """Give the current tenant its policy set and the baseline rules. Idempotent.

    Called once per new tenant by provisioning, inside the tenant schema. A tenant
    that already has a version in force keeps it untouched.
    """
    with transaction.atomic():
        policy_set = _policy_set_locked()
        if policy_set.current_version_id is not None:
            return
        rules = engine.parse_rules(BASELINE_RULES)
        _publish(policy_set=policy_set, rules=rules, actor=None, comment=BASELINE_COMMENT)


def policy_rules_validate(*, actor, rules: Any) -> tuple[engine.Rule, ...]:
    """Parse and check a draft rule set; ApplicationError (with `errors`) when unusable.

    Besides each rule's own validity, refuses a set that would stop `actor` (a user)
    from changing policies again: nobody can lock the tenant's admins out by mistake.
    """
    try:
        parsed = engine.parse_rules(rules)
    except engine.RuleSetInvalid as exc:
        raise ApplicationError(gettext("The rules are not valid: %(problems)s") % {"problems": exc}, errors=exc.errors) from exc
    if _safe_kind(actor) == KIND_USER:
        facts = LiveFacts(actor=actor, resource=None, context=None)
        verdict = engine.evaluate(parsed, Action.POLICY_CHANGE, facts.read)
        if not verdict.allowed:
            message = gettext("These rules would stop you from changing policies: keep a rule that allows you policy.change.")
            raise ApplicationError(message, errors={"rules": [message]})
    return parsed


def policy_publish(*, actor, rules: Any, comment: str = "") -> PolicyVersion:
    """Make `rules` the rules in force, as a new immutable version.

    Publishing rules identical to the version in force changes nothing and returns it.
    """
    policy_require(actor, Action.POLICY_CHANGE)
    parsed = policy_rules_validate(actor=actor, rules=rules)
    with transaction.atomic():
        policy_set = _policy_set_locked()
        return _publish(policy_set=policy_set, rules=parsed, actor=actor, comment=comment)


def policy_version_restore(*, actor, version: PolicyVersion, comment: str = "") -> PolicyVersion:
    """Publish an old version's rules again (as a new version: history only grows)."""
    return policy_publish(actor=actor, rules=version.rules, comment=comment or f"Restored from v{version.number}")


def policy_settings_update(*, actor, mode: str | None = None, audit_allows: bool | None = None) -> PolicySet:
    """Switch between enforce and dry run, and whether allows are audited."""
    if mode is not None and mode not in Mode.values:
        raise ApplicationError(gettext("Unknown mode %(mode)r.") % {"mode": mode},
                               errors={"mode": [gettext("Use one of %(values)s.") % {"values": ", ".join(Mode.values)}]})
    policy_require(actor, Action.POLICY_CHANGE)
    with transaction.atomic():
        policy_set = _policy_set_locked()
        before = {"mode": policy_set.mode, "audit_allows": policy_set.audit_allows}
        if mode is not None:
            policy_set.mode = mode
        if audit_allows is not None:
            policy_set.audit_allows = audit_allows
        after = {"mode": policy_set.mode, "audit_allows": policy_set.audit_allows}
        if after == before:
            return policy_set
        policy_set.save(update_fields=["mode", "audit_allows", "updated_at"])
        _audit(actor, AUDIT_SETTINGS_CHANGED, payload={"from": before, "to": after})
    return policy_set


def policy_simulation_run(
    *, actor, draft_rules: Any, days: int, via: str, actor_label: str | None = None
) -> SimulationResult:
    """Replay the decision log through draft rules, for the admin page, the API or the CLI.

    The decision log says who did what to which resource: reading it in bulk is itself
    an action worth a trace. So the run is policy-checked (`policy.change`, like
    publishing) and leaves a `policy.simulated` event with what was replayed and what it
    found (the draft by its digest). Invalid drafts raise ApplicationError and read nothing.
    The replay ends where the run starts, so it never includes its own policy decision.
    """
    until = timezone.now()
    policy_require(actor, Action.POLICY_CHANGE)
    result = policy_simulate(draft_rules=draft_rules, days=days, until=until)
    canonical = engine.rules_as_json(engine.parse_rules(draft_rules))
    with transaction.atomic():
        _audit(
            actor,
            AUDIT_SIMULATED,
            label=actor_label,
            payload={
                "via": via,
                "days": result.days,
                "rule_count": len(canonical),
                "rules_sha256": _digest(canonical),
                "evaluated": result.evaluated,
                "flip_count": result.flip_count,
                "unknown": result.unknown,
            },
        )
    return result


def _policy_set_locked() -> PolicySet:
    policy_set, _ = PolicySet.objects.get_or_create(singleton=True)
    return PolicySet.objects.select_for_update().get(pk=policy_set.pk)


def _publish(*, policy_set: PolicySet, rules: tuple[engine.Rule, ...], actor, comment: str) -> PolicyVersion:
    """Inside a transaction holding the policy set's lock: new version + working copy."""
    canonical = engine.rules_as_json(rules)
    current = policy_set.current_version
    if current is not None and current.rules == canonical:
        return current
    number = (selectors.policy_version_latest_number() or 0) + 1
    version = PolicyVersion.objects.create(
        number=number,
        rules=canonical,
        comment=comment.strip()[:500],
        created_by=actor if _safe_kind(actor) == KIND_USER else None,
        created_by_label=actor_label(actor)[:200],
    )
    policy_set.current_version = version
    policy_set.save(update_fields=["current_version", "updated_at"])
    PolicyRule.objects.filter(policy_set=policy_set).delete()
    PolicyRule.objects.bulk_create(PolicyRule.from_rule(rule, policy_set=policy_set) for rule in rules)
    _audit(
        actor,
        AUDIT_PUBLISHED,
        payload={
            "version": number,
            "previous_version": current.number if current is not None else None,
            "rule_count": len(canonical),
            "rules_sha256": _digest(canonical),
            "version_comment": version.comment,
        },
    )
    return version


def _digest(rules: list[dict]) -> str:
    text = json.dumps(rules, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def policy_housekeeping(*, keep_days: int | None = None) -> dict[str, int]:
    """Retention: drop decisions older than `keep_days` and cap buckets no window needs.

    `keep_days` defaults to settings.WARDEN_POLICY_DECISION_DAYS (90, the longest
    simulation). Run per tenant by the `policies.housekeeping` beat entry.
    """
    if keep_days is None:
        keep_days = int(getattr(settings, "WARDEN_POLICY_DECISION_DAYS", MAX_DAYS))
    if keep_days < 1:
        raise ApplicationError("Keep at least one day of decisions.")
    now = timezone.now()
    decisions, _ = DecisionLog.objects.filter(created_at__lt=now - timedelta(days=keep_days)).delete()
    counters = cap_counters_prune(before=now - timedelta(seconds=engine.MAX_CAP_WINDOW) - timedelta(days=1))
    return {"decisions": decisions, "cap_counters": counters}
