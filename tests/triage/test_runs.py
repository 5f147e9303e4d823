"""Workflow runs: the shipped template and its validation, a run through its steps for
new tickets (waiting for the decision, resumed by it), the failure and timeout paths, and
the operator's actions (a reason each, audited)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError, Conflict
from apps.events.models import OutboxEvent
from apps.triage import services
from apps.triage.models import Proposal, Run, RunStep
from apps.triage.services import runs
from apps.triage.services.steps import ACTIONS, FACTS
from apps.triage.workflows import templates

GOOD = """
name: tiny
version: 2
steps:
  - id: classify
    uses: triage.classify
  - id: notify
    uses: triage.notify
    if: "!classified"
"""


def _steps(run: Run) -> dict[str, str]:
    return dict(RunStep.objects.filter(run=run).order_by("position").values_list("name", "state"))


# --- Templates (no database) -------------------------------------------------------------------


def test_the_shipped_template_loads_with_its_five_steps_and_a_stable_hash():
    template = runs.template()
    assert [s.id for s in template.steps] == ["classify", "propose", "approve", "write_back", "notify"]
    assert template.step("approve").timeout_minutes == 480
    assert template.hash == runs.template().hash
    assert len(template.hash) == 64


def test_a_condition_may_be_negated():
    template = templates.parse(GOOD, actions=ACTIONS, facts=FACTS)
    assert template.step("notify").applies({"classified": False})
    assert not template.step("notify").applies({"classified": True})


@pytest.mark.parametrize(("text", "message"), [
    ("name: x y\nversion: 1\nsteps: []", "name: 'x y' does not match"),
    (GOOD.replace("version: 2", "version: 0"), "version: 0 is less than the minimum of 1"),
    (GOOD.replace("triage.notify", "triage.explode"), "unknown action 'triage.explode'"),
    (GOOD.replace('"!classified"', "sunny"), "unknown fact 'sunny'"),
    (GOOD.replace("id: notify", "id: classify"), "the id 'classify' is used twice"),
    (GOOD + "    attempts: 99\n", "99 is greater than the maximum of 10"),
    (GOOD + "    retry_forever: true\n", "Additional properties are not allowed"),
    ("steps: [unclosed", "not YAML"),
])
def test_an_invalid_template_is_refused_saying_where(text, message):
    with pytest.raises(templates.TemplateInvalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        templates.parse(text, actions=ACTIONS, facts=FACTS)


# --- Runs --------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_new_ticket_runs_to_the_decision_waits_and_finishes_after_it(make_rule, new_ticket, relay, agent_user):
    make_rule()
    ticket = new_ticket()
    relay()
    run = Run.objects.get(ticket=ticket)
    assert (run.state, run.step, run.template, run.template_version) == ("waiting", "approve", "itsm-triage", 1)
    assert _steps(run) == {"classify": "done", "propose": "done", "approve": "waiting", "write_back": "pending",
                           "notify": "pending"}
    assert run.context == {"classified": True, "proposed": True}
    assert run.proposal == Proposal.objects.get(ticket=ticket)
    services.proposal_decide(actor=agent_user, proposal_id=run.proposal_id, verdict="approve", version=1)
    relay()
    run.refresh_from_db()
    assert run.state == "done"
    assert run.finished_at is not None
    assert _steps(run) == {"classify": "done", "propose": "done", "approve": "done", "write_back": "done",
                           "notify": "done"}
    assert run.context["approved"] is True
    assert run.context["linked"] is False
    finished = OutboxEvent.objects.get(event_type="triage.run.finished")
    assert finished.payload == {"run_id": run.pk, "ticket_id": ticket.pk, "outcome": "applied"}
    assert AuditEvent.objects.filter(action="triage.run_done").exists()


@pytest.mark.django_db
def test_a_redelivered_start_is_the_same_run(make_rule, new_ticket, relay):
    make_rule()
    ticket = new_ticket()
    relay()
    first = Run.objects.get(ticket=ticket)
    assert runs.run_start(ticket_id=ticket.pk).pk == first.pk
    assert Run.objects.filter(ticket=ticket).count() == 1


@pytest.mark.django_db
def test_a_rejected_proposal_skips_the_write_back(make_rule, new_ticket, relay, agent_user):
    make_rule()
    ticket = new_ticket()
    relay()
    run = Run.objects.get(ticket=ticket)
    services.proposal_decide(actor=agent_user, proposal_id=run.proposal_id, verdict="reject", version=1, reason="No")
    relay()
    run.refresh_from_db()
    assert run.state == "done"
    assert _steps(run)["write_back"] == "skipped"
    assert OutboxEvent.objects.get(event_type="triage.run.finished").payload["outcome"] == "rejected"


@pytest.mark.django_db
def test_no_rule_matching_ends_the_run_with_the_later_steps_skipped(make_rule, new_ticket, relay):
    make_rule()
    ticket = new_ticket(title="My chair squeaks")
    relay()
    run = Run.objects.get(ticket=ticket)
    assert run.state == "done"
    assert _steps(run) == {"classify": "done", "propose": "skipped", "approve": "skipped", "write_back": "skipped",
                           "notify": "skipped"}


@pytest.mark.django_db
def test_a_classifier_failure_hands_the_ticket_to_people(new_ticket, relay, monkeypatch):
    from apps.triage.services import classify

    def broken(ticket):
        return classify.Classification(classifier="llm", confidence=Decimal("0"), rationale="", changes={},
                                       failure="the provider answered 429 (rate limited)")

    monkeypatch.setattr(classify, "_FALLBACKS", [broken])
    ticket = new_ticket(title="Odd")
    relay()
    run = Run.objects.get(ticket=ticket)
    assert (run.state, run.state_reason) == ("needs_person", "the provider answered 429 (rate limited)")
    assert run.proposal.status == "unclassified"


@pytest.mark.django_db
def test_an_action_that_keeps_failing_is_retried_then_fails_the_run(make_rule, new_ticket, monkeypatch):
    from apps.triage.services import steps

    calls = []

    def flaky(run):
        calls.append(run.pk)
        raise RuntimeError("the database hiccuped")

    monkeypatch.setitem(steps.ACTIONS, "triage.classify", flaky)
    ticket = new_ticket()  # its run started the single way (as for a language model), not through the outbox
    run = runs.run_start(ticket_id=ticket.pk)
    assert len(calls) == 3  # the template's attempts
    assert (run.state, run.state_reason) == ("needs_person", "classify: RuntimeError: the database hiccuped")
    step = run.steps.get(name="classify")
    assert (step.state, step.attempts) == ("failed", 3)


@pytest.mark.django_db
def test_a_decision_waited_for_too_long_escalates(make_rule, new_ticket, relay):
    make_rule()
    ticket = new_ticket()
    relay()
    run = Run.objects.get(ticket=ticket)
    assert runs.run_sweep(now=timezone.now() + timedelta(minutes=479)) == {"advanced": 0, "resumed": 0, "timed_out": 0}
    assert runs.run_sweep(now=timezone.now() + timedelta(minutes=481)) == {"advanced": 0, "resumed": 0, "timed_out": 1}
    run.refresh_from_db()
    assert (run.state, run.state_reason) == ("escalated", "approve: no decision within 480 minutes")


@pytest.mark.django_db
def test_a_step_a_dead_worker_left_running_is_done_again_by_the_sweep(make_rule, new_ticket, relay, monkeypatch):
    from apps.triage.services import steps

    make_rule()
    real = steps.ACTIONS["triage.classify"]
    monkeypatch.setitem(steps.ACTIONS, "triage.classify", lambda run: (_ for _ in ()).throw(SystemExit(9)))
    ticket = new_ticket()
    with pytest.raises(SystemExit):  # the "worker" dies inside the step: the claim was committed, the outcome never
        runs.run_start(ticket_id=ticket.pk)
    run = Run.objects.get(ticket=ticket)
    assert _steps(run)["classify"] == "running"
    monkeypatch.setitem(steps.ACTIONS, "triage.classify", real)
    assert runs.run_sweep() == {"advanced": 0, "resumed": 0, "timed_out": 0}  # it may still be running somewhere
    assert runs.run_sweep(now=timezone.now() + timedelta(minutes=3))["resumed"] == 1
    run.refresh_from_db()
    assert run.state == "waiting"
    assert run.steps.get(name="classify").attempts == 2
    assert Proposal.objects.filter(ticket=ticket).count() == 1


# --- Operator actions --------------------------------------------------------------------------


@pytest.fixture
def waiting_run(make_rule, new_ticket, relay):
    make_rule()
    ticket = new_ticket()
    relay()
    return Run.objects.get(ticket=ticket)


@pytest.mark.django_db
def test_operator_actions_need_a_reason_and_are_audited(waiting_run, agent_user, agent2_user):
    label = "operator:test"
    with pytest.raises(ApplicationError, match="reason"):
        runs.run_escalate(actor=None, label=label, run_id=waiting_run.pk, reason="  ")
    runs.run_assign_owner(actor=None, label=label, run_id=waiting_run.pk, owner=agent_user, reason="on call")
    with pytest.raises(Conflict, match="use run_reassign_owner"):
        runs.run_assign_owner(actor=None, label=label, run_id=waiting_run.pk, owner=agent2_user, reason="mine")
    runs.run_assign_owner(actor=None, label=label, run_id=waiting_run.pk, owner=agent2_user, reason="handover",
                          replace=True)
    runs.run_escalate(actor=None, label=label, run_id=waiting_run.pk, reason="VIP customer")
    waiting_run.refresh_from_db()
    assert (waiting_run.owner, waiting_run.state, waiting_run.state_reason) == (agent2_user, "escalated", "VIP customer")
    events = {e.action: e.payload_data for e in AuditEvent.objects.filter(action__startswith="triage.run_")}
    assert events["triage.run_owner_reassigned"]["from"] == agent_user.email
    assert events["triage.run_escalated"]["reason"] == "VIP customer"
    assert AuditEvent.objects.filter(action="triage.run_escalated").latest("seq").actor_label == label


@pytest.mark.django_db
def test_unblock_and_override_close(waiting_run, agent_user, relay):
    label = "operator:test"
    runs.run_escalate(actor=None, label=label, run_id=waiting_run.pk, reason="stuck")
    run = runs.run_unblock(actor=None, label=label, run_id=waiting_run.pk, reason="customer answered")
    assert run.state == "waiting"  # back at the decision it waits for
    closed = runs.run_override_close(actor=None, label=label, run_id=waiting_run.pk, reason="handled by phone")
    assert (closed.state, closed.state_reason) == ("closed", "handled by phone")
    with pytest.raises(Conflict, match="closed already"):
        runs.run_override_close(actor=None, label=label, run_id=waiting_run.pk, reason="again")
    # A decision after the close: the proposal is applied, the closed run does not move.
    services.proposal_decide(actor=agent_user, proposal_id=closed.proposal_id, verdict="approve", version=1)
    relay()
    closed.refresh_from_db()
    assert closed.state == "closed"


@pytest.mark.django_db
def test_an_imported_batch_is_proposed_in_bulk_once(make_rule, relay, admin_user, requester_user, monkeypatch):
    from apps.tickets.services import ImportRow, ticket_import_many
    from apps.triage.services import classify
    from apps.triage.services.bulk import runs_start_many

    make_rule()
    titles = ["Printer jams", "Toner empty", "Printer offline", "Mouse broken", "Chair squeaks"]
    seen_by_model: list[int] = []
    monkeypatch.setattr(classify, "_FALLBACKS", [lambda ticket: seen_by_model.append(ticket.pk)])
    tickets = ticket_import_many(actor=admin_user, source="servicenow",
                                 rows=[ImportRow(title=t, requester_id=requester_user.pk) for t in titles])
    relay()
    states = dict(Run.objects.filter(ticket__in=tickets).values_list("ticket__title", "state"))
    assert states == {"Printer jams": "waiting", "Toner empty": "waiting", "Printer offline": "waiting",
                      "Mouse broken": "done", "Chair squeaks": "done"}
    # The two no rule matched went the single way, to the further classifier (a model), one by one.
    assert sorted(seen_by_model) == sorted(t.pk for t in tickets if t.title in ("Mouse broken", "Chair squeaks"))
    [batch] = AuditEvent.objects.filter(action="triage.proposed_many")
    assert batch.payload_data["count"] == 3
    waiting = Run.objects.get(ticket__title="Toner empty")
    assert _steps(waiting) == {"classify": "done", "propose": "done", "approve": "waiting", "write_back": "pending",
                               "notify": "pending"}
    assert waiting.steps.get(name="classify").output["rule_id"] == waiting.proposal.rule_id
    assert runs_start_many(ticket_ids=[t.pk for t in tickets]) == 0  # redelivered: nothing twice
    assert Proposal.objects.filter(ticket__in=tickets).count() == 3


@pytest.mark.django_db
def test_the_desk_timeline_shows_the_triage_steps(make_rule, new_ticket, relay, agent_user, web_as):
    make_rule()
    ticket = new_ticket()
    relay()
    run = Run.objects.get(ticket=ticket)
    services.proposal_decide(actor=agent_user, proposal_id=run.proposal_id, verdict="reject", version=1,
                             reason="Printers belong to facilities")
    relay()
    page = web_as(agent_user).get(f"/desk/tickets/{ticket.number}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "rejected the proposed routing (Printers to Ops) via web" in html
    assert "Printers belong to facilities" in html
