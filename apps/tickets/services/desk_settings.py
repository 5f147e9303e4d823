"""The tenant's help-desk settings: default team, replies on resolved tickets, auto-close."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from apps.accounts.models import Team
from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.policies.services import policy_require

from ..actions import DESK_SETTINGS_CHANGE
from ..choices import ResolvedReply
from ..models import DeskSettings
from .common import UNSET, resolve_team

logger = logging.getLogger(__name__)


@transaction.atomic
def desk_settings_update(
    *,
    actor,
    default_team: Team | int | None = UNSET,
    resolved_reply: str = UNSET,
    auto_close_days: int = UNSET,
) -> DeskSettings:
    """Change the help-desk settings (admins, with the baseline: `desk_settings.change`).

    `default_team`: where new tickets go when their category (and its ancestors) name no
    team; `resolved_reply`: "reopen" or "follow_up"; `auto_close_days`: 0 (never) to 365.
    Audited as `desk_settings.changed` with what changed (from, to); no change, no event.
    """
    policy_require(actor, DESK_SETTINGS_CHANGE, None, {})
    errors: dict[str, list[str]] = {}
    team_obj = None
    if default_team is not UNSET:
        try:
            team_obj = resolve_team(default_team)
        except ApplicationError:
            errors["default_team"] = [gettext("Unknown team.")]
    if resolved_reply is not UNSET and resolved_reply not in ResolvedReply.values:
        errors["resolved_reply"] = [gettext("Use one of: %(values)s.") % {"values": ", ".join(ResolvedReply.values)}]
    if auto_close_days is not UNSET and (
        isinstance(auto_close_days, bool)
        or not isinstance(auto_close_days, int)
        or not 0 <= auto_close_days <= DeskSettings.AUTO_CLOSE_MAX_DAYS
    ):
        errors["auto_close_days"] = [gettext("A whole number of days from 0 (never) to %(max)s.")
                                     % {"max": DeskSettings.AUTO_CLOSE_MAX_DAYS}]
    if errors:
        raise ApplicationError(gettext("The help-desk settings are not valid."), errors=errors)
    row, _ = DeskSettings.objects.select_for_update().get_or_create(singleton=True)
    changes: dict[str, Any] = {}
    if default_team is not UNSET and getattr(team_obj, "pk", None) != row.default_team_id:
        changes["default_team"] = {"from": row.default_team_id, "to": getattr(team_obj, "pk", None)}
        row.default_team = team_obj
    if resolved_reply is not UNSET and resolved_reply != row.resolved_reply:
        changes["resolved_reply"] = {"from": row.resolved_reply, "to": resolved_reply}
        row.resolved_reply = resolved_reply
    if auto_close_days is not UNSET and auto_close_days != row.auto_close_days:
        changes["auto_close_days"] = {"from": row.auto_close_days, "to": auto_close_days}
        row.auto_close_days = auto_close_days
    if not changes:
        return row
    row.save(update_fields=["default_team", "resolved_reply", "auto_close_days", "updated_at"])
    audit_record(actor=actor, action="desk_settings.changed", target=row, payload=changes)
    return row
