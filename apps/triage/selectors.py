"""Reads of the triage app."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.tickets.models import Category, Ticket

from . import matching
from .choices import ProposalStatus
from .models import Proposal, Rule, TriageSettings

# What a ticket's proposal is compared with: the ticket's own values of the proposable fields.
TICKET_FIELDS = {"category": "category_id", "team": "team_id", "impact": "impact", "urgency": "urgency"}
DONE = ("resolved", "closed", "cancelled")


def settings_get() -> TriageSettings:
    """The tenant's settings; the defaults (unsaved) until an admin changes them, so that a
    new tenant triages at once and reading never writes."""
    return TriageSettings.objects.filter(singleton=True).first() or TriageSettings(singleton=True)


def rule_list(*, enabled_only: bool = False) -> QuerySet[Rule]:
    rules = Rule.objects.select_related("set_category", "set_team", "in_category").order_by("position", "pk")
    return rules.filter(enabled=True) if enabled_only else rules


def rule_spec(rule: Rule) -> matching.RuleSpec:
    return matching.spec(rule_id=rule.pk or 0, keywords=rule.keywords, pattern=rule.pattern, source=rule.source,
                         in_category_id=rule.in_category_id, requester_domain=rule.requester_domain)


def _ancestry(category_id: int | None, parents: dict[int, int | None]) -> frozenset[int]:
    seen: set[int] = set()
    while category_id is not None and category_id not in seen:
        seen.add(category_id)
        category_id = parents.get(category_id)
    return frozenset(seen)


def category_parents() -> dict[int, int | None]:
    return dict(Category.objects.values_list("pk", "parent_id"))


def facts_for(ticket: Ticket, *, parents: dict[int, int | None] | None = None) -> matching.Facts:
    parents = category_parents() if parents is None else parents
    return matching.Facts(
        title=ticket.title or "", description=ticket.description or "", source=ticket.source or "",
        category_id=ticket.category_id, category_ancestry=_ancestry(ticket.category_id, parents),
        requester_email=getattr(ticket.requester, "email", "") or "",
    )


def ticket_values(ticket: Ticket) -> dict:
    """The ticket's values of the fields a proposal may change (work note aside)."""
    return {name: getattr(ticket, attribute) for name, attribute in TICKET_FIELDS.items()}


def proposal_queue(*, status: str = ProposalStatus.PENDING) -> QuerySet[Proposal]:
    """Proposals (waiting ones by default), oldest first: the triage queue."""
    return (Proposal.objects.filter(status=status)
            .select_related("ticket", "ticket__category", "ticket__team", "ticket__requester", "rule")
            .order_by("created_at", "pk"))


def proposal_list(*, status: str | None = None, ticket_id: int | None = None) -> QuerySet[Proposal]:
    proposals = Proposal.objects.select_related("ticket", "rule", "decision", "decision__decided_by")
    if status:
        proposals = proposals.filter(status=status)
    if ticket_id is not None:
        proposals = proposals.filter(ticket_id=ticket_id)
    return proposals.order_by("-created_at", "-pk")


def proposal_get(*, proposal_id: int) -> Proposal | None:
    return proposal_list().filter(pk=proposal_id).first()


def proposal_for_ticket(*, ticket_id: int) -> Proposal | None:
    """The ticket's latest proposal (waiting or decided)."""
    return proposal_list(ticket_id=ticket_id).first()


def stale_fields(proposal: Proposal, ticket: Ticket) -> list[str]:
    """The proposable fields whose value on the ticket is no longer what the proposal saw."""
    now = ticket_values(ticket)
    return [name for name, value in proposal.before.items() if name in now and now[name] != value]
