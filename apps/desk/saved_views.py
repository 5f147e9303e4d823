"""Saved queue views (personal or shared with a team): reads and writes.

The model is `apps.tickets.models.SavedView` (owner XOR team, name, query JSON). It is
looked up lazily: until it exists, `enabled()` is False and the desk hides the feature.

Writes follow the project's rule: policy first (fail-closed), then the row, then an
audit event, in one transaction. The action `ticket.saved_view` is registered here
(idempotently) until the tickets app registers it in `actions.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from django.apps import apps
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from apps.accounts import permissions
from apps.accounts.models import Team, TeamMembership
from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, NotFound, PermissionDenied
from apps.policies.actions import register_action
from apps.policies.services import policy_require
from apps.tickets.text import clean_text

SAVED_VIEW_MANAGE = "ticket.saved_view"
register_action(SAVED_VIEW_MANAGE, "Save, share and delete queue views of the agent desk")

# The query keys a view may hold (the queue's filters and its sort).
QUERY_KEYS = ("q", "status", "priority", "team", "assignee", "requester", "category", "tag", "created_after",
              "created_before", "sla", "sort", "per_page")
LIST_KEYS = ("status", "priority", "sla")  # repeatable keys: kept as lists
MAX_VIEWS_PER_OWNER = 50


def model():
    try:
        return apps.get_model("tickets", "SavedView")
    except LookupError:
        return None


def enabled() -> bool:
    return model() is not None


def clean_query(query: Mapping) -> dict:
    """Only known keys; lists for repeatable ones, short strings for the rest."""
    out: dict = {}
    for key in QUERY_KEYS:
        value = query.get(key)
        if value in (None, "", [], ()):
            continue
        if key in LIST_KEYS:
            values = value if isinstance(value, list | tuple) else [value]
            out[key] = [str(v)[:20] for v in values][:10]
        else:
            out[key] = str(value)[:200]
    return out


def saved_view_list(*, actor) -> list:
    """The actor's personal views, then the views of the teams they belong to."""
    SavedView = model()
    if SavedView is None or not permissions.is_agent(actor):
        return []
    team_ids = TeamMembership.objects.filter(user=actor).values("team_id")
    views = list(SavedView.objects.filter(Q(owner=actor) | Q(team_id__in=team_ids)).select_related("team"))
    for view in views:
        view.query_string = urlencode(clean_query(view.query if isinstance(view.query, dict) else {}), doseq=True)
    return sorted(views, key=lambda v: (v.team_id is not None, v.team.name.lower() if v.team else "", v.name.lower()))


def saved_view_get(*, actor, view_id: int):
    for view in saved_view_list(actor=actor):
        if view.pk == view_id:
            return view
    raise NotFound(_("There is no such saved view."))


@transaction.atomic
def saved_view_create(*, actor, name: str, query: Mapping, team: Team | None = None):
    SavedView = model()
    if SavedView is None:
        raise ApplicationError(_("Saved views are not available yet."))
    policy_require(actor, SAVED_VIEW_MANAGE, None, {"operation": "create", "team_id": getattr(team, "pk", None)})
    if not permissions.is_agent(actor):
        raise PermissionDenied(_("Only agents save queue views."))
    name = clean_text(name, field="name", required=True, single_line=True, max_chars=100, label=_("The name"))
    if team is not None and not TeamMembership.objects.filter(team=team, user=actor).exists():
        raise PermissionDenied(_("You are not a member of the team %(team)s.") % {"team": team.name})
    owner = None if team is not None else actor
    scope = SavedView.objects.filter(team=team) if team is not None else SavedView.objects.filter(owner=actor)
    if scope.count() >= MAX_VIEWS_PER_OWNER:
        raise ApplicationError(_("At most %(max)s saved views here.") % {"max": MAX_VIEWS_PER_OWNER},
                               errors={"name": [_("Too many views.")]})
    if scope.filter(name__iexact=name).exists():
        raise ApplicationError(_("A view named %(name)r already exists.") % {"name": name},
                               errors={"name": [_("This name is taken.")]})
    fields = {"owner": owner, "team": team, "name": name, "query": clean_query(query)}
    if any(f.name == "created_by" for f in SavedView._meta.get_fields()):
        fields["created_by"] = actor
    view = SavedView.objects.create(**fields)
    audit_record(actor=actor, action="saved_view.created", target=view,
                 payload={"name": name, "team": getattr(team, "pk", None), "query": view.query})
    return view


@transaction.atomic
def saved_view_delete(*, actor, view) -> None:
    """Personal views: their owner. Team views: their creator, the team lead or an admin."""
    policy_require(actor, SAVED_VIEW_MANAGE, None, {"operation": "delete", "team_id": view.team_id})
    allowed = view.owner_id == actor.pk or permissions.is_tenant_admin(actor)
    if view.team_id is not None:
        allowed = allowed or getattr(view, "created_by_id", None) == actor.pk or view.team.lead_id == actor.pk
    if not allowed:
        raise PermissionDenied(_("Only the team lead, the view's author or an admin can delete a team view."))
    audit_record(actor=actor, action="saved_view.deleted", target=view, payload={"name": view.name,
                                                                                  "team": view.team_id})
    view.delete()
