"""The workflow engine: runs of a template's steps for a ticket, resumable, and the
operator's actions on a run.

`run_start(ticket_id)` makes the run (once per ticket and template) with one row per step
and advances it. `run_advance(run_id)` takes the next step that is not done: skipped when
its `if` fact does not hold, else claimed (state running, one more attempt, committed),
executed outside any transaction (a model or ServiceNow may take seconds), and its outcome
recorded in a second transaction with the facts it learnt and the events it announces.
A step that waits (for a decision) puts the run to `waiting`; the decision's event
resumes it. A failure is retried up to the step's `attempts`, then the step's
`on_failure` decides: fail the run, skip the step, hand the ticket to people
(`needs_person`) or escalate.

A worker that dies mid-step leaves the step `running`: `run_sweep()` (periodic) finds it
after STUCK_AFTER and runs it again; every action is idempotent, so the write it may have
made is made once. The sweep also applies `on_timeout` to decisions waited for too long.

Operator actions (`run_escalate`, `run_assign_owner`, `run_reassign_owner`, `run_unblock`,
`run_override_close`, and reading: `run_inspect_record`) each need a reason, are decided
by policy `triage.operate` and audited.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, Conflict, NotFound
from apps.core.tasks import enqueue_on_commit
from apps.events.services.emit import emit
from apps.policies.services import policy_require

from ..models_runs import OPEN_RUN_STATES, Run, RunState, RunStep, StepState
from ..workflows import templates
from .steps import ACTIONS, DONE, FACTS, LATER, NEEDS_PERSON, WAIT, StepOutcome

logger = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "itsm-triage"
ADVANCE_TASK = "triage.run_advance"
STUCK_AFTER = timedelta(minutes=2)
TRIAGE_OPERATE = "triage.operate"


@functools.cache
def template(name: str = DEFAULT_TEMPLATE) -> templates.Template:
    """The shipped template, parsed and checked once per process (the files ship with
    the code: a new version is a deployment)."""
    return templates.load(name, actions=tuple(ACTIONS), facts=FACTS)


# --- Starting and advancing --------------------------------------------------------------------


def run_create(*, ticket_id: int, template_name: str = DEFAULT_TEMPLATE) -> Run:
    """The ticket's run of the template, made (with its steps, not yet advanced) the first
    time; a redelivered event gets the same run back. Advancing is the task's job
    (`triage.run_advance`, sent after commit): a step may call a model or ServiceNow, which
    must not happen inside the transaction that delivered the event."""
    existing = Run.objects.filter(ticket_id=ticket_id, template=template_name).first()
    if existing is not None:
        return existing
    spec = template(template_name)
    try:
        with transaction.atomic():
            run = Run.objects.create(ticket_id=ticket_id, template=spec.name, template_version=spec.version,
                                     template_hash=spec.hash, step=spec.steps[0].id, context={})
            RunStep.objects.bulk_create(RunStep(run=run, position=i, name=s.id, action=s.uses)
                                        for i, s in enumerate(spec.steps))
            audit_record(actor=None, actor_label="triage", action="triage.run_started", target=run.ticket,
                         payload={"run_id": run.pk, "template": spec.name, "version": spec.version,
                                  "template_hash": spec.hash})
            enqueue_on_commit(ADVANCE_TASK, run_id=run.pk)
    except IntegrityError:  # made at the same moment by another delivery
        return Run.objects.get(ticket_id=ticket_id, template=template_name)
    return run


def run_start(*, ticket_id: int, template_name: str = DEFAULT_TEMPLATE) -> Run:
    """`run_create`, then advance it here and now (operators, tests, the benchmark)."""
    return run_advance(run_id=run_create(ticket_id=ticket_id, template_name=template_name).pk)


def run_advance(*, run_id: int, max_steps: int = 20, now=None) -> Run:
    """Do the run's next steps until it waits, ends or `max_steps` were taken. `now`: the
    sweep's clock (a step running since before now - STUCK_AFTER is taken over)."""
    for _ in range(max_steps):
        claimed = _claim(run_id, now=now)
        if claimed is None:
            break
        run, step = claimed
        try:
            outcome = ACTIONS[step.action](run)
        except ApplicationError as exc:
            outcome = StepOutcome("fail", reason=exc.message)
        except Exception as exc:  # noqa: BLE001 - recorded on the step; retried per its attempts
            logger.exception("triage: run %s step %s failed", run.pk, step.name)
            outcome = StepOutcome("fail", reason=f"{type(exc).__name__}: {exc}")
        if not _record(run.pk, step.pk, outcome):
            break
    return Run.objects.get(pk=run_id)


def _claim(run_id: int, *, now=None) -> tuple[Run, RunStep] | None:
    """The next step to execute, marked running and committed; None when there is none."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.state != RunState.RUNNING:
            return None
        spec = template(run.template)
        clock = now or timezone.now()
        now = timezone.now()
        for step in run.steps.select_for_update().order_by("position"):
            if step.state in (StepState.DONE, StepState.SKIPPED):
                continue
            if step.state == StepState.RUNNING and step.started_at and clock - step.started_at < STUCK_AFTER:
                return None  # someone is executing it right now
            if not spec.step(step.name).applies(run.context):
                step.state, step.finished_at = StepState.SKIPPED, now
                step.save(update_fields=["state", "finished_at"])
                continue
            step.state, step.attempts, step.started_at, step.error = StepState.RUNNING, step.attempts + 1, now, ""
            step.save(update_fields=["state", "attempts", "started_at", "error"])
            run.step, run.updated_at = step.name, now
            run.save(update_fields=["step", "updated_at"])
            return run, step
        run.state, run.step, run.finished_at, run.updated_at = RunState.DONE, "", now, now
        run.save(update_fields=["state", "step", "finished_at", "updated_at"])
        audit_record(actor=None, actor_label="triage", action="triage.run_done", target=run.ticket,
                     payload={"run_id": run.pk, "context": run.context})
        return None


def _record(run_id: int, step_id: int, outcome: StepOutcome) -> bool:
    """Record a step's outcome; True when the run goes on."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        step = RunStep.objects.select_for_update().get(pk=step_id)
        if run.state != RunState.RUNNING or step.state != StepState.RUNNING:
            return False  # an operator closed or moved the run meanwhile
        now = timezone.now()
        spec = template(run.template).step(step.name)
        run.context = {**run.context, **outcome.facts}
        if outcome.proposal_id:
            run.proposal_id = outcome.proposal_id
        step.output = outcome.output or step.output
        run.updated_at = now
        go_on = True
        if outcome.kind == DONE:
            step.state, step.finished_at = StepState.DONE, now
            for event in outcome.events:
                emit(event)
        elif outcome.kind == WAIT:
            step.state = StepState.WAITING
            run.state = RunState.WAITING
            go_on = False
        elif outcome.kind == LATER:
            step.started_at, step.error = now, outcome.reason[:300]  # the sweep takes it again after STUCK_AFTER
            go_on = False
        elif outcome.kind == NEEDS_PERSON:
            step.state, step.finished_at, step.error = StepState.DONE, now, outcome.reason[:300]
            _stop(run, RunState.NEEDS_PERSON, outcome.reason)
            go_on = False
        else:
            step.error = outcome.reason[:300]
            if step.attempts < spec.attempts:
                step.state = StepState.PENDING  # tried again at once (the next loop round)
            else:
                go_on = _fail(run, step, spec.on_failure, outcome.reason, now)
        step.save()
        run.save()
    return go_on


def _fail(run: Run, step: RunStep, on_failure: str, reason: str, now) -> bool:
    why = f"{step.name}: {reason}"[:300]
    if on_failure == "skip":
        step.state, step.finished_at = StepState.SKIPPED, now
        return True
    step.state, step.finished_at = StepState.FAILED, now
    _stop(run, {"needs_person": RunState.NEEDS_PERSON, "escalate": RunState.ESCALATED}.get(on_failure, RunState.FAILED),
          why)
    return False


def _stop(run: Run, state: str, reason: str) -> None:
    run.state, run.state_reason = state, reason[:300]
    audit_record(actor=None, actor_label="triage", action=f"triage.run_{state}", target=run.ticket,
                 payload={"run_id": run.pk, "step": run.step, "reason": reason[:300]})


def run_resume_for_proposal(*, proposal_id: int) -> Run | None:
    """A decision came: the run waiting for it goes on (advanced by the task sent after
    commit)."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(proposal_id=proposal_id,
                                                     state__in=(RunState.WAITING, RunState.ESCALATED)).first()
        if run is None:
            return None
        run.steps.filter(state=StepState.WAITING).update(state=StepState.PENDING)
        run.state, run.updated_at = RunState.RUNNING, timezone.now()
        run.save(update_fields=["state", "updated_at"])
        enqueue_on_commit(ADVANCE_TASK, run_id=run.pk)
    return run


def run_sweep(*, now=None, limit: int = 200) -> dict:
    """Advance the runs nobody is advancing: a kick lost with the broker (a running run
    with no step running), a step a dead worker left running for longer than STUCK_AFTER
    (done again: every action is idempotent); and time out decisions waited too long."""
    now = now or timezone.now()
    advanced = resumed = timed_out = 0
    busy = RunStep.objects.filter(state=StepState.RUNNING, run__state=RunState.RUNNING)
    stuck = list(busy.filter(started_at__lt=now - STUCK_AFTER).values_list("run_id", flat=True)[:limit])
    idle = list(Run.objects.filter(state=RunState.RUNNING).exclude(pk__in=busy.values("run_id"))
                .values_list("pk", flat=True)[:limit])
    for run_id in stuck:
        run_advance(run_id=run_id, now=now)
        resumed += 1
    for run_id in idle:
        run_advance(run_id=run_id, now=now)
        advanced += 1
    waiting = RunStep.objects.filter(state=StepState.WAITING, run__state=RunState.WAITING).select_related("run")
    for step in waiting[:limit]:
        spec = template(step.run.template).step(step.name)
        if spec.timeout_minutes and step.started_at and now - step.started_at >= timedelta(minutes=spec.timeout_minutes):
            with transaction.atomic():
                run = Run.objects.select_for_update().get(pk=step.run_id)
                if run.state != RunState.WAITING:
                    continue
                state = {"fail": RunState.FAILED, "needs_person": RunState.NEEDS_PERSON}.get(spec.on_timeout,
                                                                                            RunState.ESCALATED)
                _stop(run, state, f"{step.name}: no decision within {spec.timeout_minutes} minutes")
                run.updated_at = now
                run.save(update_fields=["state", "state_reason", "updated_at"])
            timed_out += 1
    return {"advanced": advanced, "resumed": resumed, "timed_out": timed_out}


# --- Operator actions --------------------------------------------------------------------------


def _reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise ApplicationError("a reason is required", errors={"reason": ["Say why."]})
    return reason[:500]


def _locked(run_id: int) -> Run:
    run = Run.objects.select_for_update(of=("self",)).select_related("owner", "ticket").filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"no run {run_id}")
    return run


def _operate(actor, label: str, run: Run, operation: str, reason: str, payload: dict | None = None) -> None:
    policy_require(actor, TRIAGE_OPERATE, run.ticket, {"operation": operation})
    audit_record(actor=actor if getattr(actor, "pk", None) else None, actor_label=None if getattr(actor, "pk", None)
                 else label, action=f"triage.run_{operation}", target=run.ticket,
                 payload={"run_id": run.pk, "reason": reason, "state": run.state, **(payload or {})})


def run_inspect_record(*, actor, label: str, run_id: int, reason: str) -> Run:
    """Reading a run is recorded too (operators look at tenants' tickets)."""
    reason = _reason(reason)
    with transaction.atomic():
        run = _locked(run_id)
        _operate(actor, label, run, "inspected", reason)
    return run


@transaction.atomic
def run_escalate(*, actor, label: str, run_id: int, reason: str) -> Run:
    reason = _reason(reason)
    run = _locked(run_id)
    if run.state not in OPEN_RUN_STATES:
        raise Conflict(f"run {run.pk} is {run.state}: only an open run can be escalated")
    previous = run.state
    run.state, run.state_reason, run.updated_at = RunState.ESCALATED, reason, timezone.now()
    run.save(update_fields=["state", "state_reason", "updated_at"])
    _operate(actor, label, run, "escalated", reason, {"from": previous})
    return run


@transaction.atomic
def run_assign_owner(*, actor, label: str, run_id: int, owner, reason: str, replace: bool = False) -> Run:
    """Give the run an owner (`replace`: change the owner it has; without it, a run that
    has one is a conflict, so that two operators do not take it over each other)."""
    reason = _reason(reason)
    run = _locked(run_id)
    if owner is None or not getattr(owner, "is_active", False) or owner.role not in ("agent", "admin"):
        raise ApplicationError("the owner must be an active agent or admin of the tenant")
    if run.owner_id and not replace:
        raise Conflict(f"run {run.pk} is owned by {run.owner.email}: use run_reassign_owner")
    if not run.owner_id and replace:
        raise Conflict(f"run {run.pk} has no owner: use run_assign_owner")
    previous = run.owner.email if run.owner_id else None
    run.owner, run.updated_at = owner, timezone.now()
    run.save(update_fields=["owner", "updated_at"])
    _operate(actor, label, run, "owner_reassigned" if replace else "owner_assigned", reason,
             {"from": previous, "to": owner.email})
    return run


def run_unblock(*, actor, label: str, run_id: int, reason: str) -> Run:
    """A failed, escalated or handed-over run goes on from the step it stopped at (that
    step's attempts start again)."""
    reason = _reason(reason)
    with transaction.atomic():
        run = _locked(run_id)
        if run.state not in (RunState.FAILED, RunState.ESCALATED, RunState.NEEDS_PERSON, RunState.WAITING):
            raise Conflict(f"run {run.pk} is {run.state}: nothing to unblock")
        previous = run.state
        run.steps.filter(state__in=(StepState.FAILED, StepState.WAITING, StepState.RUNNING)).update(
            state=StepState.PENDING, attempts=0)
        run.state, run.state_reason, run.updated_at = RunState.RUNNING, "", timezone.now()
        run.save(update_fields=["state", "state_reason", "updated_at"])
        _operate(actor, label, run, "unblocked", reason, {"from": previous})
    return run_advance(run_id=run.pk)


@transaction.atomic
def run_override_close(*, actor, label: str, run_id: int, reason: str) -> Run:
    """End a run where it is, without its remaining steps (the proposal, if waiting,
    stays in the queue for people)."""
    reason = _reason(reason)
    run = _locked(run_id)
    if run.state in (RunState.DONE, RunState.CLOSED):
        raise Conflict(f"run {run.pk} is {run.state} already")
    previous = run.state
    now = timezone.now()
    run.state, run.state_reason, run.finished_at, run.updated_at = RunState.CLOSED, reason, now, now
    run.save(update_fields=["state", "state_reason", "finished_at", "updated_at"])
    _operate(actor, label, run, "closed", reason, {"from": previous})
    return run
