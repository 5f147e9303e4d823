"""The full-text index of tickets: one SQL statement per refresh, used by services and bench.

`search_vector`          title (A) + description (B) + public comments (C)
`search_vector_internal` internal comments (C), matched for agents only

Both carry GIN indexes; queries use `websearch_to_tsquery` (SearchQuery(search_type="websearch")).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.postgres.search import SearchVector
from django.db import connection
from django.db.models import TextField, Value

from . import conf

_COMMENTS = (
    "(SELECT string_agg(c.body, E'\\n' ORDER BY c.id) FROM tickets_ticketcomment c "
    "WHERE c.ticket_id = t.id AND c.internal = {internal})"
)

REFRESH_SQL = f"""
UPDATE tickets_ticket t SET
  search_vector =
      setweight(to_tsvector(%(cfg)s::regconfig, coalesce(t.title, '')), 'A')
   || setweight(to_tsvector(%(cfg)s::regconfig, coalesce(t.description, '')), 'B')
   || setweight(to_tsvector(%(cfg)s::regconfig, coalesce({_COMMENTS.format(internal="false")}, '')), 'C'),
  search_vector_internal =
      setweight(to_tsvector(%(cfg)s::regconfig, coalesce({_COMMENTS.format(internal="true")}, '')), 'C')
"""

APPEND_SQL = """
UPDATE tickets_ticket SET {column} =
    coalesce({column}, ''::tsvector) || setweight(to_tsvector(%(cfg)s::regconfig, %(body)s), 'C')
WHERE id = %(id)s
"""


def new_ticket_vector(*, title: str, description: str) -> SearchVector:
    """The vector of a ticket without comments, as an expression for its INSERT (no second
    statement needed when a ticket is created)."""
    config = conf.get("WARDEN_TICKETS_SEARCH_CONFIG")
    return SearchVector(Value(title, output_field=TextField()), weight="A", config=config) + SearchVector(
        Value(description, output_field=TextField()), weight="B", config=config
    )


def search_refresh(ticket_ids: Iterable[int] | None = None) -> int:
    """Recompute the vectors of `ticket_ids` (all tickets when None). Returns rows updated."""
    params: dict = {"cfg": conf.get("WARDEN_TICKETS_SEARCH_CONFIG")}
    sql = REFRESH_SQL
    if ticket_ids is not None:
        params["ids"] = list(ticket_ids)
        if not params["ids"]:
            return 0
        sql += " WHERE t.id = ANY(%(ids)s)"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def search_append_comment(*, ticket_id: int, body: str, internal: bool) -> None:
    """Add one comment's words to its ticket's vector (cheaper than a full refresh)."""
    column = "search_vector_internal" if internal else "search_vector"
    with connection.cursor() as cursor:
        cursor.execute(
            APPEND_SQL.format(column=column),
            {"cfg": conf.get("WARDEN_TICKETS_SEARCH_CONFIG"), "body": body, "id": ticket_id},
        )
