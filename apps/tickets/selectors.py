"""Reads with rules: who sees which ticket, comment and attachment. Shared by API and UI.

The visibility rules live here and nowhere else:

* a requester sees only the tickets they requested, only their public comments and
  public attachments (internal ones do not exist for them: 404, never 403);
* agents and admins see every ticket of the tenant, with internal notes;
* anything else (anonymous, inactive, the public schema) sees nothing.

Tenant isolation comes from the connection's schema (django-tenants): a queryset here
can only ever reach the current tenant's rows.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, QuerySet
from django.db.models.functions import Lower

from apps.accounts import permissions
from apps.accounts.models import Team
from apps.core.errors import ApplicationError, NotFound

from . import workflow
from .choices import Visibility
from .extensions import ticket_prefetches
from .models import Category, PriorityMatrix, Tag, Ticket, TicketAttachment, TicketComment
from .priority import DEFAULT_MATRIX
from .tree import category_descendant_ids, category_tree  # noqa: F401  (re-exported: the selectors API)

TICKET_RELATED = ("requester", "assignee", "team", "category")


def _with_tag_names(queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Each ticket's tag names (sorted) in the same query: `ticket.tag_names`."""
    names = Tag.objects.filter(tickets=OuterRef("pk")).order_by(Lower("name")).values("name")
    return queryset.annotate(tag_names=ArraySubquery(names))


def can_see_internal(actor) -> bool:
    """Internal notes and attachments: agents and admins only."""
    return permissions.is_agent(actor)


def ticket_visible_queryset(*, actor) -> QuerySet[Ticket]:
    """Every ticket `actor` may see (no filters, no related loading)."""
    if not permissions.is_member(actor):
        return Ticket.objects.none()
    if permissions.is_agent(actor):
        return Ticket.objects.all()
    return Ticket.objects.filter(requester=actor)


def ticket_list(*, actor, filters: Mapping | None = None) -> QuerySet[Ticket]:
    """Visible tickets filtered by `TicketFilterSet` (query-string style `filters`).

    Related objects are joined and tag names aggregated in the same query, so a page
    costs one query whatever its size. Invalid filters raise ApplicationError
    with `errors` per parameter. Ordering: `keyset.ticket_ordering(filters["ordering"])`.
    """
    from .filters import TicketFilterSet

    queryset = _with_tag_names(ticket_visible_queryset(actor=actor).select_related(*TICKET_RELATED))
    queryset = queryset.prefetch_related(*ticket_prefetches())  # e.g. SLA clocks: one query per page
    filterset = TicketFilterSet(data=filters or {}, queryset=queryset, actor=actor)
    if not filterset.is_valid():
        errors = {field: [str(m) for m in messages] for field, messages in filterset.errors.items()}
        raise ApplicationError("Some filters are not valid.", errors=errors)
    return filterset.qs


def ticket_get_visible(*, actor, number: int, for_update: bool = False) -> Ticket:
    """The ticket `number` if `actor` may see it; NotFound (404) otherwise.

    Invisible, missing and other-tenant tickets are indistinguishable on purpose.
    """
    queryset = ticket_visible_queryset(actor=actor).select_related(*TICKET_RELATED)
    if for_update:
        queryset = queryset.select_for_update(of=("self",), no_key=True)  # as services.lock_ticket
    else:
        queryset = _with_tag_names(queryset).prefetch_related(*ticket_prefetches())
    ticket = queryset.filter(number=number).first()
    if ticket is None:
        raise NotFound(f"There is no ticket #{number}.")
    return ticket


def comment_list(*, actor, ticket: Ticket) -> QuerySet[TicketComment]:
    """Comments of a visible ticket, oldest first; internal notes only for agents."""
    queryset = TicketComment.objects.filter(ticket=ticket).select_related("author")
    if not can_see_internal(actor):
        queryset = queryset.filter(internal=False)
    return queryset.order_by("created_at", "pk")


def attachment_list(*, actor, ticket: Ticket) -> QuerySet[TicketAttachment]:
    queryset = TicketAttachment.objects.filter(ticket=ticket).select_related("uploaded_by", "ticket")
    if not can_see_internal(actor):
        queryset = queryset.filter(visibility=Visibility.PUBLIC).exclude(comment__internal=True)
    return queryset.order_by("created_at", "pk")


def attachment_get_visible(*, actor, ticket: Ticket, attachment_id: int) -> TicketAttachment:
    attachment = attachment_list(actor=actor, ticket=ticket).filter(pk=attachment_id).first()
    if attachment is None:
        raise NotFound(f"Ticket #{ticket.number} has no attachment {attachment_id}.")
    return attachment


def attachment_get_for_download(*, user_id: int, attachment_id: int) -> tuple[TicketAttachment, object]:
    """The attachment a download token names, if the token's user may still see it."""
    from apps.accounts.models import User

    user = User.objects.filter(pk=user_id, is_active=True).first()
    attachment = (
        TicketAttachment.objects.select_related("ticket", "comment").filter(pk=attachment_id).first()
    )
    if user is None or attachment is None:
        raise NotFound("This download link is not valid.")
    if not ticket_visible_queryset(actor=user).filter(pk=attachment.ticket_id).exists():
        raise NotFound("This download link is not valid.")
    if not can_see_internal(user) and (
        attachment.visibility != Visibility.PUBLIC or (attachment.comment is not None and attachment.comment.internal)
    ):
        raise NotFound("This download link is not valid.")
    return attachment, user


# --- Taxonomy and settings ----------------------------------------------------------------


def category_list(*, include_archived: bool = False) -> QuerySet[Category]:
    queryset = Category.objects.all()
    if not include_archived:
        queryset = queryset.filter(archived=False)
    return queryset.order_by("name", "pk")


def category_get(*, category_id: int, include_archived: bool = True) -> Category:
    category = category_list(include_archived=include_archived).filter(pk=category_id).first()
    if category is None:
        raise NotFound(f"There is no category {category_id}.")
    return category


def tag_list() -> QuerySet[Tag]:
    return Tag.objects.order_by("name")


def team_list() -> QuerySet[Team]:
    return Team.objects.order_by("name")


def priority_matrix_get() -> dict[str, dict[str, str]]:
    """The tenant's matrix, or the default one."""
    stored = PriorityMatrix.objects.filter(singleton=True).values_list("matrix", flat=True).first()
    return stored or {impact: dict(row) for impact, row in DEFAULT_MATRIX.items()}


def team_queue_references(team) -> list[str]:
    """Why `team` must stay (accounts.references): open tickets in its queue."""
    open_tickets = Ticket.objects.filter(team=team).exclude(status__in=workflow.TERMINAL).count()
    if open_tickets:
        return [f"{open_tickets} open ticket(s) are in its queue; move them to another team first"]
    return []
