"""The category tree: create, rename and move, archive, merge."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import Team
from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, NotFound
from apps.events.services.emit import emit
from apps.policies.services import policy_require

from .. import events as ev
from ..actions import CATEGORY_MANAGE
from ..models import Category, Ticket
from ..selectors import category_descendant_ids, category_tree
from ..text import clean_text
from .common import UNSET, resolve_team

logger = logging.getLogger(__name__)

# --- Categories -------------------------------------------------------------------------


def _clean_category_name(name: str) -> str:
    return clean_text(name, field="name", required=True, single_line=True, max_chars=100, label=_("The name"))


def _resolve_default_team(team: Team | int | None) -> Team | None:
    try:
        return resolve_team(team)
    except ApplicationError as exc:
        raise ApplicationError(_("That team does not exist."), errors={"default_team": [_("Unknown team.")]}) from exc


@transaction.atomic
def category_create(
    *, actor, name: str, parent: Category | int | None = None, default_team: Team | int | None = None
) -> Category:
    """A new category under `parent` (None: top level). `default_team`: where new tickets
    in it (and in sub-categories without a team of their own) are routed."""
    policy_require(actor, CATEGORY_MANAGE, None, {"operation": "create"})
    name = _clean_category_name(name)
    team_obj = _resolve_default_team(default_team)
    parent_obj = None
    if parent is not None:
        parent_obj = parent if isinstance(parent, Category) else Category.objects.filter(pk=parent).first()
        if parent_obj is None:
            raise ApplicationError(_("The parent category does not exist."), errors={"parent": [_("Unknown category.")]})
        if parent_obj.archived:
            raise ApplicationError(_("The parent category is archived."),
                                   errors={"parent": [_("This category is archived.")]})
    siblings = Category.objects.filter(parent=parent_obj).annotate(lname=Lower("name"))
    if siblings.filter(lname=name.lower()).exists():
        raise ApplicationError(
            _("A category named %(name)r already exists here.") % {"name": name}, errors={"name": [_("Already exists here.")]}
        )
    try:
        with transaction.atomic():
            category = Category.objects.create(name=name, parent=parent_obj, default_team=team_obj)
    except IntegrityError as exc:
        raise ApplicationError(_("A category named %(name)r already exists here.") % {"name": name},
                               errors={"name": [_("Already exists here.")]}) from exc
    audit_record(actor=actor, action="category.created", target=category,
                 payload={"name": name, "parent": getattr(parent_obj, "pk", None),
                          "default_team": getattr(team_obj, "pk", None)})
    return category


def _lock_category_tree() -> None:
    """Serialise changes of the tree's shape in this tenant until the transaction ends.

    Two moves that each look fine alone (A under B, B under A; or longer rings) would
    make a loop if both committed; locking the table in a mode that conflicts with itself
    and with row writes (not with the key-share locks of ticket inserts) rules that out.
    """
    table = connection.ops.quote_name(Category._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")


@transaction.atomic
def category_update(
    *,
    actor,
    category: Category,
    name: str = UNSET,
    parent: Category | int | None = UNSET,
    default_team: Team | int | None = UNSET,
) -> Category:
    """Rename a category, move it under another parent (None: to the top level) and/or
    change its default team (None: none of its own; the nearest ancestor's then counts).

    The new parent must exist, be active, and lie outside the category (not itself nor
    one of its descendants: the tree would get a loop). A category whose current parent
    is archived can still be renamed. Moving a category changes which SLA policies match
    the tickets of its subtree (policies name categories with their sub-categories), so
    their clocks are re-targeted after commit.
    """
    policy_require(actor, CATEGORY_MANAGE, category, {"operation": "update"})
    team_obj = None if default_team is UNSET else _resolve_default_team(default_team)
    moving = parent is not UNSET and getattr(parent, "pk", parent) != category.parent_id
    if moving:
        _lock_category_tree()
    current = Category.objects.select_for_update().filter(pk=category.pk).first()
    if current is None:
        raise NotFound(_("The category no longer exists."))
    new_name = current.name if name is UNSET else _clean_category_name(name)
    new_parent = current.parent
    if parent is not UNSET:
        new_parent = parent if isinstance(parent, Category) or parent is None else (
            Category.objects.filter(pk=parent).first()
        )
        if parent is not None and new_parent is None:
            raise ApplicationError(_("The parent category does not exist."), errors={"parent": [_("Unknown category.")]})
    new_parent_id = getattr(new_parent, "pk", None)
    if new_parent_id != current.parent_id and new_parent is not None:
        new_parent = Category.objects.get(pk=new_parent_id)  # as stored, not as the caller holds it
        if new_parent.pk == current.pk:
            raise ApplicationError(_("A category cannot be its own parent."), errors={"parent": [_("The category itself.")]})
        if new_parent.pk in category_descendant_ids([current.pk]):
            raise ApplicationError(
                _("%(parent)r lies inside %(category)r; a category cannot move below itself.")
                % {"parent": new_parent.name, "category": current.name},
                errors={"parent": [_("This category lies inside the one being moved.")]},
            )
        if new_parent.archived:
            raise ApplicationError(_("The parent category is archived."),
                                   errors={"parent": [_("This category is archived.")]})
    new_team_id = current.default_team_id if default_team is UNSET else getattr(team_obj, "pk", None)
    if new_name == current.name and new_parent_id == current.parent_id and new_team_id == current.default_team_id:
        return current
    siblings = Category.objects.filter(parent_id=new_parent_id).exclude(pk=current.pk).annotate(lname=Lower("name"))
    if siblings.filter(lname=new_name.lower()).exists():
        raise ApplicationError(
            _("A category named %(name)r already exists here.") % {"name": new_name},
            errors={"name": [_("Already exists here.")]},
        )
    changes: dict[str, Any] = {}
    if new_name != current.name:
        changes["name"] = {"from": current.name, "to": new_name}
    if new_parent_id != current.parent_id:
        changes["parent"] = {"from": current.parent_id, "to": new_parent_id}
    if new_team_id != current.default_team_id:
        changes["default_team"] = {"from": current.default_team_id, "to": new_team_id}
        current.default_team = team_obj
    current.name, current.parent = new_name, new_parent
    try:
        with transaction.atomic():
            current.save(update_fields=["name", "parent", "default_team"])
    except IntegrityError as exc:
        raise ApplicationError(_("A category named %(name)r already exists here.") % {"name": new_name},
                               errors={"name": [_("Already exists here.")]}) from exc
    audit_record(actor=actor, action="category.updated", target=current, payload=changes)
    if "parent" in changes:
        # Which SLA policies match the tickets of its subtree may have changed.
        emit(ev.CategoryMoved(category_id=current.pk, parent_from_id=changes["parent"]["from"],
                              parent_to_id=new_parent_id), actor=actor)
    return current


@transaction.atomic
def category_archive(*, actor, category: Category) -> list[int]:
    """Archive a category and everything below it. Returns the archived ids."""
    policy_require(actor, CATEGORY_MANAGE, category, {"operation": "archive"})
    ids = sorted(category_descendant_ids([category.pk]))
    updated = list(Category.objects.filter(pk__in=ids, archived=False).values_list("pk", flat=True))
    Category.objects.filter(pk__in=updated).update(archived=True)
    category.archived = True
    audit_record(actor=actor, action="category.archived", target=category, payload={"archived": updated})
    return updated


@transaction.atomic
def category_merge(*, actor, source: Category, target: Category) -> dict[str, int]:
    """Move `source`'s tickets and sub-categories into `target`, then archive `source`.

    A sub-category whose name already exists under `target` is merged into that one
    (recursively). `target` may not be `source` or lie below it, and must be active.
    """
    policy_require(actor, CATEGORY_MANAGE, source, {"operation": "merge", "target": target.pk})
    locked = {c.pk: c for c in Category.objects.select_for_update().filter(pk__in=[source.pk, target.pk])}
    if len(locked) != 2:
        if source.pk == target.pk:
            raise ApplicationError(_("A category cannot be merged into itself."), errors={"target": [_("Same category.")]})
        raise NotFound(_("One of the categories no longer exists."))
    source, target = locked[source.pk], locked[target.pk]
    if target.archived:
        raise ApplicationError(_("The target %(name)r is archived.") % {"name": target.name}, errors={"target": [_("Archived.")]})
    if source.archived:
        raise ApplicationError(_("%(name)r is already archived.") % {"name": source.name}, errors={"source": [_("Archived.")]})
    tree = category_tree()
    if target.pk in category_descendant_ids([source.pk], tree=tree):
        raise ApplicationError(
            _("%(target)r lies inside %(source)r; merge into a category outside it.")
            % {"target": target.name, "source": source.name},
            errors={"target": [_("The target is inside the source.")]},
        )
    totals = {"tickets": 0, "categories": 0}
    moves = _Moves()
    _merge_into(source, target, totals, moves, now=timezone.now())
    audit_record(
        actor=actor,
        action="category.merged",
        target=source,
        payload={"source": source.pk, "target": target.pk, "tickets_moved": totals["tickets"],
                 "categories_moved": totals["categories"]},
    )
    for ticket_id, from_id, to_id in moves.tickets:
        emit(ev.TicketCategoryMerged(ticket_id=ticket_id, category_from_id=from_id, category_to_id=to_id), actor=actor)
    for category_id, from_id, to_id in moves.categories:
        emit(ev.CategoryMoved(category_id=category_id, parent_from_id=from_id, parent_to_id=to_id), actor=actor)
    return totals


@dataclass
class _Moves:
    tickets: list[tuple[int, int, int]] = field(default_factory=list)  # (ticket, from category, to category)
    categories: list[tuple[int, int, int]] = field(default_factory=list)  # (category, from parent, to parent)


def _merge_into(source: Category, target: Category, totals: dict[str, int], moves: _Moves, *, now: datetime) -> None:
    ticket_ids = list(Ticket.objects.filter(category=source).order_by("pk").values_list("pk", flat=True))
    totals["tickets"] += Ticket.objects.filter(pk__in=ticket_ids).update(category=target, updated_at=now)
    moves.tickets += [(pk, source.pk, target.pk) for pk in ticket_ids]
    existing = {c.name.lower(): c for c in Category.objects.filter(parent=target)}
    for child in list(Category.objects.filter(parent=source)):
        twin = existing.get(child.name.lower())
        if twin is not None and not twin.archived and not child.archived:
            _merge_into(child, twin, totals, moves, now=now)
        else:
            if twin is not None:  # an archived twin: keep both, renamed to stay unique
                child.name = f"{child.name} ({source.name})"[:100]
            child.parent = target
            child.save(update_fields=["parent", "name"])
            moves.categories.append((child.pk, source.pk, target.pk))
            totals["categories"] += 1
    source.archived = True
    source.save(update_fields=["archived"])
