"""Policy actions the tickets app adds to the registry (built-ins: ticket.create, .view,
.transition, .assign, .comment). Registered from TicketsConfig.ready()."""

from __future__ import annotations

TICKET_UPDATE = "ticket.update"
CATEGORY_MANAGE = "category.manage"
TAG_MANAGE = "tag.manage"
PRIORITY_MATRIX_CHANGE = "priority_matrix.change"

ACTIONS = {
    TICKET_UPDATE: "Change a ticket's title, description, category, tags, impact or urgency",
    CATEGORY_MANAGE: "Create, rename, move, archive and merge ticket categories",
    TAG_MANAGE: "Create, rename and delete ticket tags",
    PRIORITY_MATRIX_CHANGE: "Change the tenant's impact x urgency priority matrix",
}


def register() -> None:
    from apps.policies.actions import register_action

    for name, description in ACTIONS.items():
        register_action(name, description)
