"""Policy actions the tickets app adds to the registry (built-ins: ticket.create, .view,
.transition, .assign, .comment). Registered from TicketsConfig.ready().
Category and settings actions are outside `ticket.*`, so the baseline keeps them for admins."""

from __future__ import annotations

TICKET_UPDATE = "ticket.update"
CATEGORY_MANAGE = "category.manage"
TAG_MANAGE = "tag.manage"
PRIORITY_MATRIX_CHANGE = "priority_matrix.change"
# Not under `ticket.*`: the baseline gives agents every ticket action, and the help desk's
# settings (routing, replies on resolved tickets, auto-close) are for admins only.
DESK_SETTINGS_CHANGE = "desk_settings.change"

ACTIONS = {
    TICKET_UPDATE: "Change a ticket's title, description, category, tags, impact or urgency",
    CATEGORY_MANAGE: "Create, rename, move, archive and merge ticket categories",
    TAG_MANAGE: "Create, rename and delete ticket tags",
    PRIORITY_MATRIX_CHANGE: "Change the tenant's impact x urgency priority matrix",
    DESK_SETTINGS_CHANGE: "Change the help desk's settings (default team, replies on resolved tickets, auto-close)",
}


def register() -> None:
    from apps.policies.actions import register_action

    for name, description in ACTIONS.items():
        register_action(name, description)
