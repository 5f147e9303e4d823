"""An approved proposal goes back to the ticket's outside system (ServiceNow).

Run by the subscriber `triage.writeback` after the decision committed (retried by the
outbox), never inside the request that approved. The approved values are read from the
ticket as it is now (the decision applied them) and mapped to the incident's fields:
impact and urgency as they are, the category by its name, the team to the assignment
group of the same name (looked up in ServiceNow), the approved work note as a work note. The
write itself is the connectors' governed write-back (`writeback_request`): policy
`connector.write` with the decision's approver named, the daily cap, the version check,
dry run, one PATCH with an idempotency key, the undo record. Its outcome is kept on the
proposal (`writeback_status`, `writeback_detail`, `writeback_id`) and announced with
`triage.proposal.written_back`.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.connectors.client import ConnectorError
from apps.connectors.servicenow.client import TableApi
from apps.connectors.servicenow.models import WriteBack
from apps.connectors.servicenow.selectors import link_for_ticket
from apps.connectors.servicenow.services import writeback_request
from apps.core.errors import ApplicationError
from apps.events.services.emit import emit
from apps.tickets.models import Ticket

from ..choices import Verdict
from ..events import ProposalWrittenBack
from ..models import Decision, Proposal

logger = logging.getLogger(__name__)
NOT_LINKED = "not_linked"


def _group_sys_id(connector, team_name: str, resolver=None) -> tuple[str, str]:
    """(sys_id, problem) of the one active assignment group named like the team."""
    options = {"resolver": resolver} if resolver is not None else {}
    try:
        rows = TableApi(connector, **options).find_one("sys_user_group", field="name", value=team_name,
                                                      fields=("sys_id", "name"))
    except ConnectorError as exc:
        return "", f"looking up the assignment group {team_name!r}: {exc.message}"
    if len(rows) != 1:
        return "", (f"no ServiceNow group is named {team_name!r}" if not rows
                    else f"several ServiceNow groups are named {team_name!r}")
    return str(rows[0].get("sys_id", "")), ""


def incident_changes(ticket: Ticket, decision: Decision, *, connector, resolver=None
                     ) -> tuple[dict, list[str]]:
    """The incident fields to write for an approved decision, and what could not be mapped."""
    changes: dict = {}
    skipped: list[str] = []
    approved = decision.changes
    if "impact" in approved:
        changes["impact"] = str(ticket.impact)
    if "urgency" in approved:
        changes["urgency"] = str(ticket.urgency)
    if "category" in approved and ticket.category_id:
        changes["category"] = ticket.category.name[:40]
    if "team" in approved and ticket.team_id:
        sys_id, problem = _group_sys_id(connector, ticket.team.name, resolver=resolver)
        if sys_id:
            changes["assignment_group"] = sys_id
        else:
            skipped.append(problem)
    if approved.get("work_note"):
        changes["work_notes"] = str(approved["work_note"])[:4000]
    return changes, skipped


def proposal_write_back(*, proposal_id: int, resolver=None, sleep=None) -> str:
    """Write an approved proposal back; returns the outcome kept on the proposal."""
    proposal = Proposal.objects.select_related("ticket", "ticket__category", "ticket__team").filter(
        pk=proposal_id).first()
    decision = Decision.objects.select_related("decided_by").filter(proposal_id=proposal_id).first()
    if proposal is None or decision is None or decision.verdict != Verdict.APPROVE:
        return ""
    if proposal.writeback_status and proposal.writeback_status not in ("failed",):
        return proposal.writeback_status  # a redelivered event: written once already
    link = link_for_ticket(ticket_id=proposal.ticket_id)
    if link is None:
        return _record(proposal, NOT_LINKED, "", None)
    changes, skipped = incident_changes(proposal.ticket, decision, connector=link.connector,
                                        resolver=resolver)
    if not changes:
        return _record(proposal, "skipped", "; ".join(skipped) or "nothing to write", None)
    actor = decision.decided_by
    try:
        row = writeback_request(actor=actor, ticket=proposal.ticket, changes=changes,
                                approved_by=decision.decided_by_label,
                                actor_label_override="" if actor is not None else f"triage:{decision.channel}",
                                resolver=resolver, sleep=sleep)
    except ApplicationError as exc:  # the connector was switched off, a value ServiceNow would refuse
        return _record(proposal, "failed", exc.message, None)
    detail = "; ".join([row.detail, *skipped]).strip("; ")
    return _record(proposal, row.status, detail, row.pk)


def _record(proposal: Proposal, status: str, detail: str, writeback_id: int | None) -> str:
    """Keep the outcome on the proposal, and its proof in the audit chain: the one event
    of an applied write carries the classifier (rule, or model and prompt template hash),
    the approver and channel, the policy version of the decision, and the undo record
    (the connector's write-back id, key and the values before)."""
    decision = Decision.objects.filter(proposal_id=proposal.pk).first()
    undo = None
    if writeback_id is not None:
        row = WriteBack.objects.filter(pk=writeback_id).first()
        if row is not None:
            undo = {"writeback_id": row.pk, "connector_id": row.connector_id, "number": row.number,
                    "idempotency_key": row.idempotency_key, "prior": row.prior_values,
                    "fields": sorted(row.new_values)}
    with transaction.atomic():
        Proposal.objects.filter(pk=proposal.pk).update(writeback_status=status, writeback_detail=detail[:300],
                                                       writeback_id=writeback_id, updated_at=timezone.now())
        audit_record(actor=None, actor_label="triage", action="triage.written_back", target=proposal.ticket,
                     payload={"proposal_id": proposal.pk, "ticket_id": proposal.ticket_id, "status": status,
                              "detail": detail[:300], "classifier": proposal.classifier, "rule": proposal.rule_name,
                              "model": proposal.model, "prompt_version": proposal.prompt_version,
                              "prompt_hash": proposal.prompt_hash, "confidence": str(proposal.confidence),
                              "approved_by": decision.decided_by_label if decision else "",
                              "channel": decision.channel if decision else "",
                              "policy_version": decision.policy_version if decision else None,
                              "undo": undo})
        emit(ProposalWrittenBack(proposal_id=proposal.pk, ticket_id=proposal.ticket_id, status=status))
    return status
