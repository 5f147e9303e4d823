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
from django.db import connection
from django.db.models import F, OuterRef, QuerySet
from django.db.models.functions import Lower
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.accounts import permissions
from apps.accounts.models import Team
from apps.core.errors import ApplicationError, NotFound

from . import workflow
from .choices import Visibility
from .extensions import requester_access, ticket_prefetches
from .models import Category, DeskSettings, PriorityMatrix, Tag, Ticket, TicketAttachment, TicketComment
from .priority import DEFAULT_MATRIX
from .tree import category_descendant_ids, category_tree  # noqa: F401  (re-exported: the selectors API)

TICKET_RELATED = ("requester", "assignee", "team", "category")


# The search index's columns: never shown, often kilobytes a row; reads for display leave them out.
INDEX_FIELDS = ("search_vector", "search_vector_all")


def _with_tag_names(queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Each ticket's tag names (sorted) in the same query: `ticket.tag_names`, and the
    number of the ticket it follows up (`ticket.follow_up_of_number`, None for most)."""
    names = Tag.objects.filter(tickets=OuterRef("pk")).order_by(Lower("name")).values("name")
    return queryset.annotate(tag_names=ArraySubquery(names), follow_up_of_number=F("follow_up_of__number"))


def can_see_internal(actor) -> bool:
    """Internal notes and attachments: agents and admins only."""
    return permissions.is_agent(actor)


def ticket_visible_queryset(*, actor) -> QuerySet[Ticket]:
    """Every ticket `actor` may see (no filters, no related loading)."""
    if not permissions.is_member(actor):
        return Ticket.objects.none()
    if permissions.is_agent(actor):
        return Ticket.objects.all()
    conditions = [condition(actor) for condition in requester_access()]  # e.g. tickets they were copied in on
    if not conditions:
        return Ticket.objects.filter(requester=actor)
    # Their own tickets and the others they may read, as one set of ids: `requester = me OR
    # id IN (...)` would hide the requester index from the planner (a search then read the
    # whole table's vectors), a semi-join on the union does not.
    readable = Ticket.objects.filter(requester=actor).values("pk")
    for condition in conditions:
        readable = readable.union(Ticket.objects.filter(condition).values("pk"), all=True)
    return Ticket.objects.filter(pk__in=readable)


def ticket_list(*, actor, filters: Mapping | None = None, highlight: bool = False) -> QuerySet[Ticket]:
    """Visible tickets filtered by `TicketFilterSet` (query-string style `filters`).

    Related objects are joined and tag names aggregated in the same query, so a page
    costs one query whatever its size. Invalid filters raise ApplicationError
    with `errors` per parameter. Ordering: `keyset.ticket_ordering(filters["ordering"])`;
    with `q`, the tickets the search matches (`search.search_filter`: only the text the
    actor may read), most relevant first unless an ordering is given. `highlight`: with
    `q`, each row also says why it matched (`search.hit(row)`: title and snippet with the
    matched words marked; an internal note gives a snippet to agents only), computed in
    the statement that loads the page.
    """
    from .filters import TicketFilterSet

    queryset = _with_tag_names(ticket_visible_queryset(actor=actor).select_related(*TICKET_RELATED))
    queryset = queryset.prefetch_related(*ticket_prefetches())  # e.g. SLA clocks: one query per page
    queryset = queryset.defer(*INDEX_FIELDS)
    filterset = TicketFilterSet(data=filters or {}, queryset=queryset, actor=actor, highlight=highlight)
    if not filterset.is_valid():
        errors = {field: [str(m) for m in messages] for field, messages in filterset.errors.items()}
        raise ApplicationError(_("Some filters are not valid."), errors=errors)
    return filterset.qs


def ticket_get_visible(*, actor, number: int, for_update: bool = False) -> Ticket:
    """The ticket `number` if `actor` may see it; NotFound (404) otherwise.

    Invisible, missing and other-tenant tickets are indistinguishable on purpose.
    """
    queryset = ticket_visible_queryset(actor=actor).select_related(*TICKET_RELATED)
    if for_update:
        queryset = queryset.select_for_update(of=("self",), no_key=True)  # as services.lock_ticket
    else:
        queryset = _with_tag_names(queryset).prefetch_related(*ticket_prefetches()).defer(*INDEX_FIELDS)
    ticket = queryset.filter(number=number).first()
    if ticket is None:
        raise NotFound(_("There is no ticket #%(number)s.") % {"number": number})
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
        raise NotFound(_("Ticket #%(number)s has no attachment %(id)s.") % {"number": ticket.number, "id": attachment_id})
    return attachment


def attachment_get_for_download(*, user_id: int, attachment_id: int) -> tuple[TicketAttachment, object]:
    """The attachment a download token names, if the token's user may still see it."""
    from apps.accounts.models import User

    user = User.objects.filter(pk=user_id, is_active=True).first()
    attachment = (
        TicketAttachment.objects.select_related("ticket", "comment").filter(pk=attachment_id).first()
    )
    if user is None or attachment is None:
        raise NotFound(_("This download link is not valid."))
    if not ticket_visible_queryset(actor=user).filter(pk=attachment.ticket_id).exists():
        raise NotFound(_("This download link is not valid."))
    if not can_see_internal(user) and (
        attachment.visibility != Visibility.PUBLIC or (attachment.comment is not None and attachment.comment.internal)
    ):
        raise NotFound(_("This download link is not valid."))
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
        raise NotFound(_("There is no category %(id)s.") % {"id": category_id})
    return category


def tag_list() -> QuerySet[Tag]:
    return Tag.objects.order_by("name")


def team_list() -> QuerySet[Team]:
    return Team.objects.order_by("name")


def priority_matrix_get() -> dict[str, dict[str, str]]:
    """The tenant's matrix, or the default one."""
    stored = PriorityMatrix.objects.filter(singleton=True).values_list("matrix", flat=True).first()
    return stored or {impact: dict(row) for impact, row in DEFAULT_MATRIX.items()}


def ticket_follow_ups(*, actor, ticket: Ticket) -> QuerySet[Ticket]:
    """The visible tickets that follow `ticket` up (opened by the requester's replies on it
    after it was resolved or closed), oldest first."""
    return ticket_visible_queryset(actor=actor).filter(follow_up_of=ticket).order_by("number")


def desk_settings_get() -> DeskSettings:
    """The tenant's help-desk settings (the row every schema gets from its migration; the
    defaults, unsaved, in a schema somehow without it)."""
    return DeskSettings.objects.select_related("default_team").filter(singleton=True).first() or DeskSettings()


ROUTING_CATEGORY = "category"
ROUTING_DEFAULT = "default"


def routing_for(*, category_id: int | None) -> tuple[int | None, str | None]:
    """The team a new ticket in `category_id` goes to when nobody chose one, and why:
    the category's default team, else the nearest ancestor's (`"category"`), else the
    tenant's default team (`"default"`), else (None, None). One query."""
    category = connection.ops.quote_name(Category._meta.db_table)
    settings = connection.ops.quote_name(DeskSettings._meta.db_table)
    sql = f"""
        WITH RECURSIVE up (id, parent_id, default_team_id, depth) AS (
            SELECT id, parent_id, default_team_id, 0 FROM {category} WHERE id = %(category)s
          UNION ALL
            SELECT c.id, c.parent_id, c.default_team_id, up.depth + 1
            FROM {category} c JOIN up ON c.id = up.parent_id
            WHERE up.default_team_id IS NULL AND up.depth < 100
        )
        SELECT team_id, source FROM (
            SELECT default_team_id AS team_id, %(by_category)s AS source, depth FROM up
            WHERE default_team_id IS NOT NULL
          UNION ALL
            SELECT default_team_id, %(by_default)s, 2147483647 FROM {settings}
            WHERE singleton AND default_team_id IS NOT NULL
        ) found
        ORDER BY depth LIMIT 1
    """  # noqa: S608  (table names from the models, values as parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"category": category_id, "by_category": ROUTING_CATEGORY, "by_default": ROUTING_DEFAULT})
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (None, None)


def routing_team_id(*, category_id: int | None) -> int | None:
    """The team a new ticket in `category_id` is routed to when nobody chose one (see `routing_for`)."""
    return routing_for(category_id=category_id)[0]


def team_routing_references(team) -> list[str]:
    """Why `team` must stay (accounts.references): it is where new tickets are routed."""
    problems = []
    names = sorted(Category.objects.filter(default_team=team).values_list("name", flat=True), key=str.lower)
    if names:
        shown = ", ".join(names[:10])
        if len(names) > 10:
            shown = _("%(names)s and %(count)s more") % {"names": shown, "count": len(names) - 10}
        problems.append(
            ngettext("it is the default team of the category %(names)s; choose another team there first",
                     "it is the default team of the categories %(names)s; choose another team there first",
                     len(names)) % {"names": shown}
        )
    if DeskSettings.objects.filter(singleton=True, default_team=team).exists():
        problems.append(
            _("it is the default team of the help desk (Tickets > Help-desk settings); choose another one there first")
        )
    return problems


def team_queue_references(team) -> list[str]:
    """Why `team` must stay (accounts.references): open tickets in its queue."""
    open_tickets = Ticket.objects.filter(team=team).exclude(status__in=workflow.TERMINAL).count()
    if open_tickets:
        return [ngettext("%(count)s open ticket(s) are in its queue; move them to another team first",
                         "%(count)s open ticket(s) are in its queue; move them to another team first",
                         open_tickets) % {"count": open_tickets}]
    return []
