"""Many new tickets at once (an imported batch, a burst from the portal): the rules path
in bulk, set-based, so that classifying keeps up with a ServiceNow import.

`runs_start_many(ticket_ids)` does for each ticket what `run_create` + `run_advance` do
for one, up to the decision: the run of the shipped template with its steps, the rules
tried in order (one read of the rules and the category tree for the batch), the proposal
with only the fields it would change. In one transaction: the tickets locked in one
statement, the proposals, runs and steps inserted in three, one audit event
`triage.proposed_many` holding every proposal's proof, and one `triage.proposal.created`
event per proposal (one statement). Tickets no rule matches go the single way when a
further classifier (a language model) is registered: it may take seconds per ticket, so
each gets its own run and task; otherwise their run ends at once.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.events.services.emit import emit_many
from apps.tickets.models import Ticket

from .. import selectors
from ..choices import FIELDS, ProposalStatus
from ..events import ProposalCreated
from ..models import Proposal
from ..models_runs import Run, RunState, RunStep, StepState
from . import classify as classifiers
from .proposals import _auto_approvable, _proof, proposal_decide
from .runs import DEFAULT_TEMPLATE, run_create, template
from .steps import _classification_out

logger = logging.getLogger(__name__)
BATCH_MAX = 1000


def runs_start_many(*, ticket_ids: list[int], template_name: str = DEFAULT_TEMPLATE) -> int:
    """Start (and advance to the decision) the runs of these tickets; returns how many
    runs were made. Tickets with a run already are left alone (a redelivered event)."""
    ids = list(dict.fromkeys(ticket_ids))[:BATCH_MAX]
    spec = template(template_name)
    if [s.uses for s in spec.steps[:3]] != ["triage.classify", "triage.propose", "triage.approve"]:
        return sum(1 for i in ids if run_create(ticket_id=i, template_name=template_name))  # another shape: one by one
    taken = set(Run.objects.filter(ticket_id__in=ids, template=spec.name).values_list("ticket_id", flat=True))
    ids = [i for i in ids if i not in taken]
    if not ids:
        return 0
    settings = selectors.settings_get()
    rules = list(selectors.rule_list(enabled_only=True)) if settings.enabled else []
    parents = selectors.category_parents()
    tickets = {t.pk: t for t in Ticket.objects.select_related("requester").filter(pk__in=ids)}
    found = {pk: classifiers.by_rules(t, rules=rules, parents=parents) for pk, t in tickets.items()
             if t.status not in selectors.DONE} if rules else {}
    slow = [pk for pk in ids if found.get(pk) is None and pk in tickets and settings.enabled
            and classifiers.has_fallbacks() and tickets[pk].status not in selectors.DONE]
    auto: list[Proposal] = []
    with transaction.atomic():
        locked = {t.pk: t for t in Ticket.objects.select_for_update(of=("self",), no_key=True)
                  .filter(pk__in=[pk for pk in ids if pk not in slow]).order_by("pk")}
        now = timezone.now()
        proposals: dict[int, Proposal] = {}
        for pk, ticket in locked.items():
            match = found.get(pk)
            if match is None or ticket.status in selectors.DONE:
                continue
            before = selectors.ticket_values(ticket)
            changes = {k: v for k, v in match.changes.items() if k in FIELDS and (k == "work_note" or before.get(k) != v)}
            if not any(k != "work_note" for k in changes):
                continue
            proposals[pk] = Proposal(
                ticket=ticket, classifier=match.classifier, rule=match.rule, rule_name=match.rule.name,
                confidence=match.confidence, rationale=match.rationale[:2000], changes=changes,
                before={k: before[k] for k in changes if k in before}, ticket_updated_at=ticket.updated_at,
                created_at=now, updated_at=now)
        Proposal.objects.filter(ticket_id__in=list(proposals), status=ProposalStatus.PENDING).update(
            status=ProposalStatus.SUPERSEDED, status_reason="A newer proposal replaced it.", updated_at=now)
        Proposal.objects.bulk_create(proposals.values())
        runs = []
        for pk in locked:
            proposal = proposals.get(pk)
            context = {"classified": pk in found and found[pk] is not None, "proposed": proposal is not None}
            runs.append(Run(ticket_id=pk, template=spec.name, template_version=spec.version, template_hash=spec.hash,
                            proposal=proposal, context=context, started_at=now, updated_at=now,
                            state=RunState.WAITING if proposal else RunState.DONE,
                            step="approve" if proposal else "", finished_at=None if proposal else now))
        Run.objects.bulk_create(runs)
        steps = []
        for run in runs:
            match, proposal = found.get(run.ticket_id), proposals.get(run.ticket_id)
            states = _step_states(spec, run.context, waiting=proposal is not None)
            for position, step in enumerate(spec.steps):
                state = states[step.id]
                output = {}
                if step.uses == "triage.classify":
                    output = _classification_out(match) if match else {"matched": None}
                elif step.uses == "triage.propose" and proposal is not None:
                    output = {"proposal": proposal.pk}
                steps.append(RunStep(run=run, position=position, name=step.id, action=step.uses, state=state,
                                     attempts=1 if state in (StepState.DONE, StepState.WAITING) else 0,
                                     output=output, started_at=now if state != StepState.PENDING else None,
                                     finished_at=now if state in (StepState.DONE, StepState.SKIPPED) else None))
        RunStep.objects.bulk_create(steps)
        if proposals:
            audit_record(actor=None, actor_label="triage", action="triage.proposed_many", target=None,
                         payload={"count": len(proposals), "template_hash": spec.hash,
                                  "runs": [r.pk for r in runs if r.proposal_id],
                                  "proposals": [_proof(p) for p in proposals.values()]})
            emit_many([ProposalCreated(proposal_id=p.pk, ticket_id=p.ticket_id, classifier=p.classifier)
                       for p in proposals.values()])
            auto = [p for p in proposals.values() if _auto_approvable(p, settings)]
    for proposal in auto:
        try:
            proposal_decide(actor=None, proposal_id=proposal.pk, verdict="approve", version=proposal.version,
                            channel="auto")
        except ApplicationError as exc:  # the policy wants a person, or the ticket moved: it waits in the queue
            logger.info("triage: proposal %s not approved automatically: %s", proposal.pk, exc.message)
    for pk in slow:
        run_create(ticket_id=pk, template_name=template_name)
    return len(runs) + len(slow)


def _step_states(spec, context: dict, *, waiting: bool) -> dict[str, str]:
    """The states of the steps of a run started in bulk: classify done; propose done or
    skipped; approve waiting when there is a proposal; the rest pending (they run after
    the decision) or skipped (no proposal: the run is done)."""
    states = {}
    for step in spec.steps:
        if step.uses == "triage.classify":
            states[step.id] = StepState.DONE
        elif step.uses == "triage.propose":
            states[step.id] = StepState.DONE if context["classified"] else StepState.SKIPPED
        elif step.uses == "triage.approve":
            states[step.id] = StepState.WAITING if waiting else StepState.SKIPPED
        else:
            states[step.id] = StepState.PENDING if waiting else StepState.SKIPPED
    return states
