"""decide() and policy_require() against the real database, in tenant alpha."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.core.errors import PermissionDenied
from apps.policies.baseline import BASELINE_RULES
from apps.policies.models import DecisionLog, Mode, Outcome, PolicySet
from apps.policies.services import Integration, PolicyDenied, decide, policy_require

from .conftest import ticket


def last_log() -> DecisionLog:
    return DecisionLog.objects.order_by("-pk").first()


def audit_actions() -> list[str]:
    return list(AuditEvent.objects.filter(action__startswith="policy.").order_by("seq").values_list("action", flat=True))


OWN = "own"
OTHER = "other"

# role, action, whose ticket (None: no resource), context, allowed
DECIDE_CASES = [
    ("admin", "ticket.view", OTHER, None, True),
    ("admin", "export.create", None, None, True),
    ("admin", "policy.change", None, None, True),
    ("admin", "user.manage", None, None, True),
    ("agent", "ticket.view", OTHER, None, True),
    ("agent", "ticket.assign", OTHER, None, True),
    ("agent", "ticket.transition", OTHER, {"to": "resolved"}, True),
    ("agent", "export.create", None, None, False),
    ("agent", "policy.change", None, None, False),
    ("agent", "automation.run", None, None, False),
    ("requester", "ticket.create", None, None, True),
    ("requester", "ticket.view", OWN, None, True),
    ("requester", "ticket.view", OTHER, None, False),
    ("requester", "ticket.comment", OWN, None, True),
    ("requester", "ticket.comment", OTHER, None, False),
    ("requester", "ticket.transition", OWN, {"to": "cancelled"}, True),
    ("requester", "ticket.transition", OWN, {"to": "resolved"}, False),
    ("requester", "ticket.transition", OTHER, {"to": "cancelled"}, False),
    ("requester", "ticket.assign", OWN, None, False),
    ("requester", "export.create", None, None, False),
    ("requester", "connector.write", None, {"connector": "servicenow"}, False),
]


@pytest.mark.parametrize(("role", "action", "whose", "context", "allowed"), DECIDE_CASES)
def test_baseline_decisions(users, requester2_user, role, action, whose, context, allowed):
    actor = users[role]
    resource = None
    if whose == OWN:
        resource = ticket(requester=actor)
    if whose == OTHER:
        resource = ticket(requester=requester2_user)
    decision = decide(actor, action, resource, context)
    assert decision.allowed is allowed, decision.reasons
    assert decision.would_allow is allowed
    assert decision.mode == Mode.ENFORCE
    assert decision.rule_version == PolicySet.objects.get().current_version.number
    log = last_log()
    assert (log.action, log.allowed, log.actor_label) == (action, allowed, f"user:{actor.pk}")
    assert log.outcome == (Outcome.ALLOWED if allowed else Outcome.DENIED)


def test_a_decision_is_one_log_row_with_the_facts_the_rules_read(tenant, requester_user):
    before = DecisionLog.objects.count()
    decide(requester_user, "ticket.transition", ticket(requester=requester_user, number=42), {"to": "open"})
    assert DecisionLog.objects.count() == before + 1
    log = last_log()
    assert (log.resource_type, log.resource_id) == ("tickets.ticket", "42")
    assert log.facts["actor.role"] == "requester"
    assert log.facts["actor.id"] == requester_user.pk
    assert log.facts["resource.requester_id"] == requester_user.pk
    assert log.facts["context.to"] == "open"


def test_allowed_decision_costs_two_queries_in_a_savepoint_and_no_audit(tenant, agent_user):
    decide(agent_user, "ticket.view", ticket(requester=agent_user))  # the version's rules are now cached
    before = audit_actions()
    with CaptureQueriesContext(connection) as queries:
        assert decide(agent_user, "ticket.view", ticket(requester=agent_user)).allowed
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SET search_path")]
    # The savepoint lets a failure anywhere roll back and still record the denial.
    assert len(statements) == 4, statements
    assert statements[0].startswith("SAVEPOINT")
    assert statements[1].startswith("SELECT")
    assert '"policies_policyversion"."rules"' not in statements[1]  # parsed rules come from the cache
    assert statements[2].startswith('INSERT INTO "policies_decisionlog"')
    assert statements[3].startswith("RELEASE SAVEPOINT")
    assert audit_actions() == before


def test_denials_are_audited_in_the_callers_transaction(tenant, agent_user):
    decision = decide(agent_user, "export.create")
    assert not decision.allowed
    assert decision.reasons == ("no rule allows",)
    event = AuditEvent.objects.filter(action="policy.denied").order_by("-seq").first()
    assert event is not None
    assert event.actor_id == agent_user.pk
    assert event.payload_data["action"] == "export.create"
    assert event.payload_data["decision_id"] == last_log().pk
    assert event.payload_data["enforced"] is True


def test_allows_are_audited_when_the_tenant_asks(tenant, agent_user, use_rules):
    use_rules(BASELINE_RULES, audit_allows=True)
    assert decide(agent_user, "ticket.view", ticket(requester=agent_user)).allowed
    assert audit_actions()[-1] == "policy.allowed"


def test_policy_require_raises_policy_denied_403(tenant, requester_user):
    with pytest.raises(PolicyDenied) as caught:
        policy_require(requester_user, "export.create")
    assert isinstance(caught.value, PermissionDenied)
    assert caught.value.status == 403
    assert caught.value.decision.reasons == ("no rule allows",)
    assert "export.create" in caught.value.message


def test_policy_require_returns_the_decision_with_obligations(tenant, admin_user):
    decision = policy_require(admin_user, "connector.write", None, {"connector": "servicenow"})
    assert decision.allowed
    assert decision.requires_approval
    assert [(cap.limit, cap.window, cap.scope) for cap in decision.caps] == [(50, 3600, "connector")]


# --- Fail closed ----------------------------------------------------------------------


class ExplodingTicket:
    requester_id = 1

    @property
    def category(self):
        raise RuntimeError("database on fire")


def test_an_exception_in_rule_evaluation_denies_and_is_audited(tenant, agent_user, use_rules):
    use_rules(
        [
            {
                "name": "agents see hardware tickets",
                "subject": "role:agent",
                "action": "ticket.view",
                "effect": "allow",
                "conditions": [{"field": "resource.category", "op": "equals", "value": "hardware"}],
            }
        ]
    )
    decision = decide(agent_user, "ticket.view", ExplodingTicket())
    assert not decision.allowed
    assert decision.reasons == ("evaluation error: RuntimeError",)
    assert last_log().outcome == Outcome.ERROR
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == "policy.error"
    assert event.payload_data["reasons"] == ["evaluation error: RuntimeError"]
    with pytest.raises(PolicyDenied):
        policy_require(agent_user, "ticket.view", ExplodingTicket())


def test_an_unregistered_action_fails_closed(tenant, admin_user):
    decision = decide(admin_user, "ticket.teleport")
    assert not decision.allowed
    assert decision.reasons == ("evaluation error: UnknownAction",)
    assert audit_actions()[-1] == "policy.error"


def test_an_unsupported_actor_fails_closed(tenant):
    decision = decide(object(), "ticket.view")
    assert decision.reasons == ("evaluation error: TypeError",)


def test_a_method_in_a_field_path_fails_closed(tenant, agent_user, use_rules):
    use_rules(
        [
            {
                "name": "x",
                "subject": "*",
                "action": "ticket.view",
                "effect": "allow",
                "conditions": [{"field": "resource.get_status", "op": "equals", "value": "open"}],
            }
        ]
    )
    resource = SimpleNamespace(get_status=lambda: "open")
    assert decide(agent_user, "ticket.view", resource).reasons == ("evaluation error: FactError",)


def _rename_table(old: str, new: str) -> None:
    """A real database failure for the rest of this (rolled-back) test transaction."""
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{old}" RENAME TO "{new}"')


def test_a_database_error_reading_the_policy_set_denies_is_audited_and_spares_the_callers_transaction(
    tenant, admin_user
):
    from django.db import transaction

    from apps.accounts.models import Team

    _rename_table("policies_policyset", "policies_policyset_gone")
    with transaction.atomic():  # the caller's business transaction
        decision = decide(admin_user, "ticket.view")
        assert not decision.allowed
        assert decision.reasons == ("evaluation error: ProgrammingError",)
        assert decision.rule_version is None
        with pytest.raises(PolicyDenied):
            policy_require(admin_user, "ticket.view")
        # The failed SELECT was rolled back to the decision's savepoint: the caller goes on.
        assert Team.objects.filter(name="Desk").exists()
    log = last_log()
    assert (log.outcome, log.allowed, log.action) == (Outcome.ERROR, False, "ticket.view")
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == "policy.error"
    assert event.payload_data["reasons"] == ["evaluation error: ProgrammingError"]
    assert event.payload_data["decision_id"] == log.pk


def test_an_allow_that_cannot_be_logged_is_denied_and_still_audited(tenant, agent_user):
    _rename_table("policies_decisionlog", "policies_decisionlog_gone")
    decision = decide(agent_user, "ticket.view", ticket(requester=agent_user))  # the baseline allows this
    assert not decision.allowed
    assert decision.would_allow is False
    assert decision.reasons == ("evaluation error: ProgrammingError",)
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == "policy.error"
    assert event.actor_id == agent_user.pk
    assert event.payload_data["decision_log_failed"] is True
    assert event.payload_data["decision_id"] is None
    assert event.payload_data["action"] == "ticket.view"
    with pytest.raises(PolicyDenied):
        policy_require(agent_user, "ticket.view", ticket(requester=agent_user))


def test_when_nothing_can_be_written_the_answer_is_still_no(tenant, admin_user, caplog):
    _rename_table("policies_decisionlog", "policies_decisionlog_gone")
    _rename_table("audit_auditevent", "audit_auditevent_gone")
    with caplog.at_level("ERROR", logger="apps.policies.services"):
        decision = decide(admin_user, "export.create")  # admins may export: an allow, unrecordable
    assert not decision.allowed
    assert decision.reasons == ("evaluation error: ProgrammingError",)
    assert "denied anyway" in caplog.text
    with pytest.raises(PolicyDenied) as caught:
        policy_require(admin_user, "export.create")
    assert caught.value.record == {}


def test_a_broken_stored_rule_set_fails_closed(tenant, admin_user, policy_set):
    """A version whose stored JSON no longer parses (edited around the app) denies."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE policies_policyversion SET rules = %s::jsonb WHERE id = %s",
            ['[{"name": "x", "subject": "role:nobody", "action": "*", "effect": "allow"}]', policy_set.current_version_id],
        )
    decision = decide(admin_user, "ticket.view")
    assert not decision.allowed
    assert decision.reasons == ("evaluation error: RuleSetInvalid",)
    assert audit_actions()[-1] == "policy.error"


def test_no_policy_set_denies(tenant, admin_user):
    PolicySet.objects.all().delete()
    decision = decide(admin_user, "ticket.view")
    assert not decision.allowed
    assert decision.reasons == ("no policy installed",)
    assert decision.rule_version is None


def test_public_schema_denies_without_touching_tenant_tables(tenant, admin_user):
    connection.set_schema_to_public()
    decision = decide(admin_user, "ticket.view")
    connection.set_tenant(tenant)
    assert not decision.allowed
    assert decision.reasons == ("no tenant: policies live in tenant schemas",)


# --- Subjects -------------------------------------------------------------------------


def test_system_is_allowed_by_the_baseline_rule_not_implicitly(tenant, use_rules):
    assert decide(None, "automation.run").allowed
    assert last_log().actor_label == "system"
    use_rules([rule for rule in BASELINE_RULES if rule["subject"] != "system"])
    assert not decide(None, "automation.run").allowed


def test_integrations_need_their_own_rule(tenant, use_rules):
    slack = Integration("slack")
    assert not decide(slack, "ticket.comment").allowed
    use_rules(
        [
            *BASELINE_RULES,
            {"name": "slack comments", "subject": "integration:slack", "action": "ticket.comment", "effect": "allow"},
        ]
    )
    assert decide(slack, "ticket.comment").allowed
    assert not decide(Integration("github"), "ticket.comment").allowed
    assert last_log().actor_label == "integration:github"


def test_integration_names_are_validated():
    with pytest.raises(ValueError, match="invalid integration name"):
        Integration("Not Valid")


def test_anonymous_and_inactive_users_match_nothing(tenant, admin_user):
    assert not decide(AnonymousUser(), "ticket.view").allowed
    admin_user.is_active = False
    assert not decide(admin_user, "ticket.view").allowed


def test_team_subjects_read_the_actors_teams(tenant, agent2_user, use_rules):
    from apps.accounts.models import Team

    ops = Team.objects.get(name="Ops")
    use_rules([{"name": "ops exports", "subject": f"team:{ops.pk}", "action": "export.create", "effect": "allow"}])
    assert decide(agent2_user, "export.create").allowed
    assert last_log().facts["actor.teams"] == [ops.pk]


# --- Resources and facts --------------------------------------------------------------

CONDITION_RULES = [
    {
        "name": "hardware",
        "subject": "role:agent",
        "action": "ticket.view",
        "effect": "allow",
        "conditions": [{"field": "resource.category", "op": "equals", "value": "hardware"}],
    },
    {
        "name": "vip",
        "subject": "role:agent",
        "action": "ticket.comment",
        "effect": "allow",
        "conditions": [{"field": "resource.tags", "op": "any", "value": ["vip"]}],
    },
    {
        "name": "eu only",
        "subject": "role:agent",
        "action": "ticket.assign",
        "effect": "allow",
        "conditions": [{"field": "tenant.region", "op": "equals", "value": "eu"}],
    },
    {
        "name": "nested",
        "subject": "role:agent",
        "action": "ticket.create",
        "effect": "allow",
        "conditions": [{"field": "resource.meta.source.system", "op": "in", "value": ["servicenow"]}],
    },
]

RESOURCE_CASES = [
    ("ticket.view", {"category": "hardware"}, True),
    ("ticket.view", SimpleNamespace(category="hardware"), True),
    ("ticket.view", {"category": "software"}, False),
    ("ticket.view", {}, False),
    ("ticket.view", None, False),
    ("ticket.comment", {"tags": ["vip", "printer"]}, True),
    ("ticket.comment", SimpleNamespace(tags={"vip"}), True),
    ("ticket.comment", {"tags": []}, False),
    ("ticket.assign", None, True),
    ("ticket.create", {"meta": {"source": {"system": "servicenow"}}}, True),
    ("ticket.create", SimpleNamespace(meta={"source": SimpleNamespace(system="github")}), False),
]


@pytest.mark.parametrize(("action", "resource", "allowed"), RESOURCE_CASES)
def test_conditions_read_dicts_attributes_and_the_tenant(tenant, agent_user, use_rules, action, resource, allowed):
    use_rules(CONDITION_RULES)
    assert decide(agent_user, action, resource).allowed is allowed


def test_model_instances_are_read_as_slug_name_or_pk(tenant, agent_user, use_rules):
    from apps.accounts.models import Team

    desk = Team.objects.get(name="Desk")
    use_rules(
        [
            {
                "name": "desk lead",
                "subject": "role:agent",
                "action": "ticket.view",
                "effect": "allow",
                "conditions": [
                    {"field": "resource.team", "op": "equals", "value": "Desk"},
                    {"field": "resource.team.lead", "op": "is_actor"},
                ],
            }
        ]
    )
    assert decide(agent_user, "ticket.view", {"team": desk}).allowed
    log = last_log()
    assert log.facts["resource.team"] == "Desk"
    assert log.facts["resource.team.lead"] == agent_user.pk


def test_a_model_resource_is_logged_and_audited_by_type_and_id(tenant, agent_user):
    from apps.accounts.models import Team

    desk = Team.objects.get(name="Desk")
    decide(agent_user, "export.create", desk)
    log = last_log()
    assert (log.resource_type, log.resource_id) == ("accounts.team", str(desk.pk))
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.target_type, event.target_id) == ("accounts.team", str(desk.pk))


# --- Dry run --------------------------------------------------------------------------


def test_dry_run_never_blocks_but_logs_and_audits_the_real_verdict(tenant, requester_user, use_rules):
    use_rules(BASELINE_RULES, mode=Mode.DRY_RUN)
    decision = policy_require(requester_user, "export.create")  # does not raise
    assert decision.allowed is True
    assert decision.would_allow is False
    assert decision.mode == "dry_run"
    assert decision.reasons == ("no rule allows",)
    log = last_log()
    assert (log.allowed, log.would_allow, log.outcome, log.mode) == (True, False, Outcome.DENIED, "dry_run")
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == "policy.denied"
    assert event.payload_data["enforced"] is False
    assert event.payload_data["mode"] == "dry_run"


def test_dry_run_relaxes_verdicts_not_failures_errors_deny_in_every_mode(tenant, agent_user, use_rules):
    """The rule (docs/policies.md, Modes): dry run lets a denying verdict through; an
    evaluation error is not a verdict, so it denies in dry run exactly as in enforce."""
    use_rules(CONDITION_RULES, mode=Mode.DRY_RUN)
    verdict = decide(agent_user, "ticket.view", {"category": "software"})  # the rules deny: a verdict
    assert (verdict.allowed, verdict.would_allow) == (True, False)
    with pytest.raises(PolicyDenied) as caught:
        policy_require(agent_user, "ticket.view", ExplodingTicket())
    decision = caught.value.decision
    assert (decision.allowed, decision.would_allow, decision.mode) == (False, False, "dry_run")
    assert decision.reasons == ("evaluation error: RuntimeError",)
    log = last_log()
    assert (log.outcome, log.allowed, log.mode) == (Outcome.ERROR, False, "dry_run")
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == "policy.error"
    assert event.payload_data["enforced"] is True
