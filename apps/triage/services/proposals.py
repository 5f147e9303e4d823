"""Proposals: made for a new ticket, decided once, applied to the ticket when approved.

`proposal_make(ticket_id)` classifies the ticket (rules, then a language model: outside
any transaction, a model answers slowly) and stores what it proposes, keeping only the
fields it would change. Then, when the tenant allows it, the proposal is approved at once
(`channel` auto), as the system and only if the policy allows it without a person.

`proposal_decide(actor, proposal_id, verdict, version, ...)` records the one decision on
a proposal. In order, in one transaction:

1. the proposal is locked; one already decided is a conflict (the first decision wins),
   a decision on another version than the current one (an edit came in between) is stale;
2. the ticket is locked; when its routing changed since the proposal (someone set the
   team meanwhile) the proposal is superseded and the decision refused, saying which
   fields changed; a resolved or closed ticket cannot be routed either;
3. policy `ticket.triage` is asked for the actor (context: verdict, channel, classifier,
   confidence); the tickets' own policies are asked again by the ticket services;
4. an approval applies the changes through the tickets services (category, impact,
   urgency; team; the work note as an internal note: a person's approval only, a note
   needs an author), as the approver;
5. the decision, the proposal's new status, one audit event (the proof: classifier, rule
   or model and prompt hash, confidence, approver and channel, policy version, values
   before and after) and `triage.proposal.decided`.

A refusal (policy, stale, conflict) leaves the ticket untouched and is noted on the
proposal (`status_reason`), so whoever looks next sees why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, Conflict, NotFound
from apps.events.services.emit import emit
from apps.policies.decisions import PolicyDenied
from apps.policies.services import policy_denial_persist, policy_require
from apps.policies.subjects import actor_kind
from apps.tickets import services as tickets
from apps.tickets.models import Ticket
from apps.tickets.services.common import clean_level, clean_markdown

from .. import selectors
from ..choices import FIELDS, Channel, Classifier, ProposalStatus, Verdict
from ..events import ProposalCreated, ProposalDecided
from ..models import Decision, Proposal
from .classify import Classification, classify

logger = logging.getLogger(__name__)

TRIAGE_DECIDE = "ticket.triage"
TRIAGE_CONFIGURE = "triage.configure"
AUTO_LABEL = "triage:auto"


# --- Making ------------------------------------------------------------------------------------


def proposal_make(*, ticket_id: int, again: bool = False, classification: Classification | None = None
                  ) -> Proposal | None:
    """Propose a routing for the ticket (once per ticket unless `again`). None when there
    is nothing to propose: triage off, the ticket done, no classifier matched, or the
    match would change nothing."""
    settings = selectors.settings_get()
    if not settings.enabled and classification is None:
        return None
    ticket = Ticket.objects.select_related("requester").filter(pk=ticket_id).first()
    if ticket is None or ticket.status in selectors.DONE:
        return None
    if not again and Proposal.objects.filter(ticket_id=ticket_id).exists():
        return None
    found = classification or classify(ticket)  # outside the transaction: a model may take seconds
    if found is None:
        return None
    if found.failure:
        return _unclassified(ticket, found)
    with transaction.atomic():
        ticket = tickets.lock_ticket(ticket)
        if ticket.status in selectors.DONE:
            return None
        before = selectors.ticket_values(ticket)
        changes = {name: value for name, value in found.changes.items()
                   if name in FIELDS and (name == "work_note" or before.get(name) != value)}
        if not any(name != "work_note" for name in changes):
            return None  # the ticket is routed as proposed already
        superseded = list(Proposal.objects.select_for_update().filter(ticket=ticket, status=ProposalStatus.PENDING))
        now = timezone.now()
        for old in superseded:
            old.status, old.status_reason, old.updated_at = ProposalStatus.SUPERSEDED, _("A newer proposal replaced it."), now
            old.save(update_fields=["status", "status_reason", "updated_at"])
        proposal = Proposal.objects.create(
            ticket=ticket, classifier=found.classifier, rule=found.rule, rule_name=found.rule.name if found.rule else "",
            model=found.model, prompt_version=found.prompt_version, prompt_hash=found.prompt_hash,
            confidence=found.confidence, rationale=found.rationale[:2000], changes=changes,
            before={name: before[name] for name in changes if name in before}, ticket_updated_at=ticket.updated_at,
            created_at=now, updated_at=now,
        )
        audit_record(actor=None, actor_label="triage", action="triage.proposed", target=ticket,
                     payload={**_proof(proposal), "superseded": [p.pk for p in superseded]})
        auto = _auto_approvable(proposal, settings)
        emit(ProposalCreated(proposal_id=proposal.pk, ticket_id=ticket.pk, classifier=proposal.classifier,
                             auto_approved=False))
    if auto:
        try:
            proposal_decide(actor=None, proposal_id=proposal.pk, verdict=Verdict.APPROVE, version=proposal.version,
                            channel=Channel.AUTO)
        except ApplicationError as exc:  # the policy wants a person, or the ticket moved: it waits in the queue
            logger.info("triage: proposal %s not approved automatically: %s", proposal.pk, exc.message)
        proposal.refresh_from_db()
    return proposal


def _unclassified(ticket: Ticket, found: Classification) -> Proposal:
    """A classifier failed: the ticket goes to the people's queue with the reason."""
    with transaction.atomic():
        ticket = tickets.lock_ticket(ticket)
        now = timezone.now()
        proposal = Proposal.objects.create(
            ticket=ticket, classifier=found.classifier, model=found.model, prompt_version=found.prompt_version,
            prompt_hash=found.prompt_hash, confidence=0, rationale="", changes={}, before={},
            ticket_updated_at=ticket.updated_at, status=ProposalStatus.UNCLASSIFIED,
            status_reason=found.failure[:300], created_at=now, updated_at=now)
        audit_record(actor=None, actor_label="triage", action="triage.unclassified", target=ticket,
                     payload={**_proof(proposal), "reason": found.failure[:300]})
    return proposal


def _auto_approvable(proposal: Proposal, settings) -> bool:
    allowed = (settings.auto_approve_rules if proposal.classifier == Classifier.RULES else settings.auto_approve_llm)
    return bool(allowed) and proposal.confidence >= max(settings.auto_approve_threshold, settings.confidence_floor)


# --- Editing -----------------------------------------------------------------------------------


def proposal_edit(*, actor, proposal_id: int, version: int, changes: dict[str, Any]) -> Proposal:
    """Change what a waiting proposal proposes (a new version: a decision on the old
    one is refused as stale)."""
    with transaction.atomic():
        proposal = _locked(proposal_id)
        _check_open(proposal, version)
        policy_require(actor, TRIAGE_DECIDE, proposal.ticket, {"verdict": "edit", "channel": Channel.WEB,
                                                                "classifier": proposal.classifier})
        clean = clean_changes(changes)
        if not any(name != "work_note" for name in clean) and not clean.get("work_note"):
            raise ApplicationError(_("A proposal must change something."), errors={"changes": [_("Nothing to change.")]})
        previous = proposal.changes
        proposal.changes, proposal.version = clean, proposal.version + 1
        current = selectors.ticket_values(proposal.ticket)
        proposal.before = {name: current[name] for name in clean if name in current}
        proposal.updated_at = timezone.now()
        proposal.save(update_fields=["changes", "version", "before", "updated_at"])
        audit_record(actor=actor, action="triage.proposal_edited", target=proposal.ticket,
                     payload={"proposal_id": proposal.pk, "version": proposal.version,
                              "from": _ids(previous), "to": _ids(clean)})
    return proposal


def clean_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Proposable fields only, each checked; None or "" drops a field."""
    from apps.accounts.models import Team
    from apps.tickets.models import Category

    clean: dict[str, Any] = {}
    for name, value in (changes or {}).items():
        if name not in FIELDS:
            raise ApplicationError(_("%(field)s cannot be proposed.") % {"field": name}, errors={name: [_("Unknown field.")]})
        if value in (None, ""):
            continue
        if name in ("impact", "urgency"):
            clean[name] = clean_level(int(value) if str(value).isdigit() else value, name)
        elif name == "category":
            if not Category.objects.filter(pk=_int(value, name), archived=False).exists():
                raise ApplicationError(_("Unknown or archived category."), errors={name: [_("Unknown or archived.")]})
            clean[name] = int(value)
        elif name == "team":
            if not Team.objects.filter(pk=_int(value, name)).exists():
                raise ApplicationError(_("Unknown team."), errors={name: [_("Unknown team.")]})
            clean[name] = int(value)
        else:
            clean[name] = clean_markdown(str(value), field="work_note", label=_("The work note"))
    return clean


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApplicationError(_("%(field)s must be an id.") % {"field": name}, errors={name: [_("Not an id.")]}) from None


# --- Deciding ----------------------------------------------------------------------------------


class Stale(Conflict):
    """The proposal or the ticket changed since the decision was asked for."""


def proposal_decide(*, actor, proposal_id: int, verdict: str, version: int, reason: str = "",
                    changes: dict[str, Any] | None = None, channel: str = Channel.WEB) -> Proposal:
    """Approve (applying it, possibly edited by `changes`) or reject a proposal; see the
    module docstring. Raises Conflict/Stale (409), PolicyDenied (403), ApplicationError."""
    if verdict not in Verdict.values:
        raise ApplicationError(_("The decision is approve or reject."), errors={"decision": [_("Approve or reject.")]})
    if channel not in Channel.values:
        raise ApplicationError(f"unknown channel {channel!r}")
    reason = " ".join((reason or "").split())[:500]
    if verdict == Verdict.REJECT and not reason and channel in (Channel.WEB, Channel.API):
        raise ApplicationError(_("Say why the proposal is rejected."), errors={"reason": [_("A reason is required.")]})
    try:
        with transaction.atomic():
            return _decide(actor=actor, proposal_id=proposal_id, verdict=verdict, version=version, reason=reason,
                           changes=changes, channel=channel)
    except Stale as exc:
        _note(proposal_id, exc.message, supersede=getattr(exc, "supersede", False))
        raise
    except PolicyDenied as exc:
        if channel not in (Channel.WEB, Channel.API):
            policy_denial_persist(exc)  # no edge behind a Slack click or an automatic approval writes it
        _note(proposal_id, _("Refused: %(why)s") % {"why": exc.message})
        raise


def _locked(proposal_id: int) -> Proposal:
    proposal = Proposal.objects.select_for_update().filter(pk=proposal_id).first()
    if proposal is None:
        raise NotFound(_("This proposal does not exist."))
    return proposal


def _check_open(proposal: Proposal, version) -> None:
    decided = Decision.objects.filter(proposal=proposal).select_related("decided_by").first()
    if decided is not None:
        raise Conflict(_("Already decided: %(verdict)s by %(who)s.")
                       % {"verdict": decided.get_verdict_display().lower(), "who": decided.decided_by_label})
    if proposal.status != ProposalStatus.PENDING:
        raise Conflict(_("This proposal is no longer waiting (%(status)s).") % {"status": proposal.get_status_display()})
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise ApplicationError(_("The version is a number."), errors={"version": [_("A number.")]}) from None
    if version != proposal.version:
        raise Stale(_("The proposal was edited since you saw it (version %(seen)s, now %(now)s); look again.")
                    % {"seen": version, "now": proposal.version})


def _decide(*, actor, proposal_id, verdict, version, reason, changes, channel) -> Proposal:
    proposal = _locked(proposal_id)
    _check_open(proposal, version)
    ticket = tickets.lock_ticket(proposal.ticket)
    if ticket.status in selectors.DONE:
        exc = Stale(_("Ticket #%(number)s is %(status)s: there is nothing to route.")
                    % {"number": ticket.number, "status": ticket.get_status_display().lower()})
        exc.supersede = True
        raise exc
    changed = selectors.stale_fields(proposal, ticket)
    if changed:
        exc = Stale(_("Ticket #%(number)s changed since the proposal (%(fields)s); it needs a new look.")
                    % {"number": ticket.number, "fields": ", ".join(changed)})
        exc.supersede = True
        raise exc
    approved = dict(proposal.changes) if changes is None else clean_changes(changes)
    context = {"verdict": verdict, "channel": channel, "classifier": proposal.classifier,
               "confidence": float(proposal.confidence), "fields": sorted(approved)}
    decision = policy_require(actor, TRIAGE_DECIDE, ticket, context)
    if channel == Channel.AUTO and decision.requires_approval:
        raise Conflict(_("The policy wants a person to approve this."))
    note_id = None
    if verdict == Verdict.APPROVE:
        ticket, note_id = _apply(actor, ticket, approved)
    now = timezone.now()
    label = _label(actor, channel)
    Decision.objects.create(proposal=proposal, verdict=verdict, reason=reason, decided_by=_user(actor),
                            decided_by_label=label, channel=channel, version=proposal.version, changes=approved,
                            policy_version=decision.rule_version, created_at=now)
    proposal.status = ProposalStatus.APPLIED if verdict == Verdict.APPROVE else ProposalStatus.REJECTED
    proposal.status_reason = reason
    proposal.updated_at = now
    proposal.save(update_fields=["status", "status_reason", "updated_at"])
    audit_record(actor=_user(actor), actor_label=None if _user(actor) else label,
                 action=f"triage.proposal_{'approved' if verdict == Verdict.APPROVE else 'rejected'}", target=ticket,
                 payload={**_proof(proposal), "approved": _ids(approved) if verdict == Verdict.APPROVE else {},
                          "decided_by": label, "channel": channel, "policy_version": decision.rule_version,
                          "reason": reason, "note_id": note_id})
    emit(ProposalDecided(proposal_id=proposal.pk, ticket_id=ticket.pk, verdict=verdict, channel=channel,
                         fields=sorted(approved) if verdict == Verdict.APPROVE else [], note_id=note_id),
         actor=_user(actor))
    return proposal


def _apply(actor, ticket: Ticket, approved: dict) -> tuple[Ticket, int | None]:
    descriptive = {name: approved[name] for name in ("category", "impact", "urgency") if name in approved}
    if descriptive:
        ticket = tickets.ticket_update(actor=actor, ticket=ticket, **descriptive)
    if "team" in approved and approved["team"] != ticket.team_id:
        ticket = tickets.ticket_assign(actor=actor, ticket=ticket, team=approved["team"])
    note_id = None
    if approved.get("work_note") and _user(actor) is not None:  # an automatic approval has no author for a note
        note_id = tickets.comment_add(actor=actor, ticket=ticket, body=approved["work_note"], internal=True).pk
    return ticket, note_id


def _note(proposal_id: int, message: str, *, supersede: bool = False) -> None:
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().filter(pk=proposal_id, status=ProposalStatus.PENDING).first()
        if proposal is None:
            return
        proposal.status_reason = str(message)[:300]
        if supersede:
            proposal.status = ProposalStatus.SUPERSEDED
        proposal.updated_at = timezone.now()
        proposal.save(update_fields=["status", "status_reason", "updated_at"])


# --- Bulk --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkOutcome:
    approved: list[int]
    refused: dict[int, str]  # proposal id -> why


def proposal_approve_many(*, actor, proposal_ids: list[int], channel: str = Channel.WEB) -> BulkOutcome:
    """Approve several rules-based proposals at or above the confidence floor, one
    transaction each (one refusal does not stop the others)."""
    floor = selectors.settings_get().confidence_floor
    approved: list[int] = []
    refused: dict[int, str] = {}
    for proposal in Proposal.objects.filter(pk__in=list(proposal_ids)[:200]).order_by("pk"):
        if proposal.classifier != Classifier.RULES or proposal.confidence < floor:
            refused[proposal.pk] = _("Only rule proposals at or above the confidence floor (%(floor)s) are approved "
                                     "in bulk.") % {"floor": floor}
            continue
        try:
            proposal_decide(actor=actor, proposal_id=proposal.pk, verdict=Verdict.APPROVE, version=proposal.version,
                            channel=channel)
        except ApplicationError as exc:
            refused[proposal.pk] = exc.message
        else:
            approved.append(proposal.pk)
    return BulkOutcome(approved=approved, refused=refused)


# --- Helpers -----------------------------------------------------------------------------------


def _user(actor):
    try:
        return actor if actor_kind(actor) == "user" else None
    except TypeError:
        return None


def _label(actor, channel: str) -> str:
    user = _user(actor)
    if user is not None:
        return (user.email or f"user:{user.pk}")[:200]
    return AUTO_LABEL if channel == Channel.AUTO else "system"


def _ids(changes: dict) -> dict:
    """Changes for the audit chain: ids and levels, the note's presence (its text is in the note)."""
    return {name: (bool(value) if name == "work_note" else value) for name, value in changes.items()}


def _proof(proposal: Proposal) -> dict:
    return {"proposal_id": proposal.pk, "classifier": proposal.classifier, "rule_id": proposal.rule_id,
            "rule": proposal.rule_name, "model": proposal.model, "prompt_version": proposal.prompt_version,
            "prompt_hash": proposal.prompt_hash, "confidence": str(proposal.confidence), "version": proposal.version,
            "proposed": _ids(proposal.changes), "before": proposal.before}
