"""Every write of the tickets app, one module per aggregate: `tickets` (open, change,
transition, assign), `imports` (many tickets at once, from a connector), `comments`,
`replies` (a reply, or the follow-up it opens), `attachments`, `categories`, `tags`,
`matrix`, `desk_settings`, `autoclose`; shared input cleaning and the row lock in `common`.

Each service is keyword-only and runs in one transaction: it asks the policies first
(`policy_require`, fail-closed), checks the input, writes, appends its audit event, and
emits its domain events (`apps/tickets/events.py`) into the outbox, all in the same
transaction. The apps that react (SLA clocks in the transaction; the rest after commit)
subscribe to those events; tickets imports none of them.

The names below are the public surface: `from apps.tickets import services` and
`services.ticket_create(...)`.
"""

from ..mentions import parse_mentions
from .attachments import (
    DownloadLink,
    attachment_add,
    attachment_download,
    attachment_download_link,
    attachment_refusal_record,
    attachment_rescan,
)
from .autoclose import AutoCloseResult, ticket_autoclose
from .categories import category_archive, category_create, category_merge, category_update
from .comments import comment_add
from .common import UNSET, lock_ticket
from .desk_settings import desk_settings_update
from .imports import ImportRow, SyncChange, SyncOutcome, ticket_import_many, ticket_sync_many
from .matrix import priority_matrix_set
from .replies import ReplyOutcome, reply_add
from .tags import tag_create, tag_delete, tag_rename
from .tickets import ticket_assign, ticket_create, ticket_transition, ticket_update

__all__ = [
    "UNSET",
    "AutoCloseResult",
    "DownloadLink",
    "ImportRow",
    "ReplyOutcome",
    "SyncChange",
    "SyncOutcome",
    "attachment_add",
    "attachment_download",
    "attachment_download_link",
    "attachment_refusal_record",
    "attachment_rescan",
    "category_archive",
    "category_create",
    "category_merge",
    "category_update",
    "comment_add",
    "desk_settings_update",
    "lock_ticket",
    "parse_mentions",
    "priority_matrix_set",
    "reply_add",
    "tag_create",
    "tag_delete",
    "tag_rename",
    "ticket_autoclose",
    "ticket_assign",
    "ticket_create",
    "ticket_import_many",
    "ticket_sync_many",
    "ticket_transition",
    "ticket_update",
]
