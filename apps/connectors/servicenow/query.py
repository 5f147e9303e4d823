"""ServiceNow encoded queries, field lists and paging links, built and checked. Pure.

A Table API query (`sysparm_query`) is `field<op>value` terms joined by `^`, with
`ORDERBY<field>` terms. ServiceNow, by default, *drops* a term whose field does not
exist and runs the rest: a misspelt `sys_updated_onn>=...` silently matches every record
of the table. So nothing here lets an unknown field, an unknown operator or a value that
could start another term (`^`, a line break) reach the wire: every part is checked
against the fields Warden knows for the table, and a `QueryInvalid` is raised before any
request is made.

The `Link` header (RFC 5988) carries the next page; `next_path` accepts it only when it
points at the same origin and table and repeats our own query, so a server cannot steer
the client elsewhere or widen the query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

GLIDE_TIME = "%Y-%m-%d %H:%M:%S"

# The fields Warden may name, per table (a subset of the real tables' fields).
TABLE_FIELDS: dict[str, frozenset[str]] = {
    "incident": frozenset({
        "sys_id", "number", "state", "priority", "impact", "urgency", "category", "subcategory",
        "assignment_group", "assigned_to", "caller_id", "short_description", "description", "work_notes",
        "comments", "close_code", "close_notes", "opened_at", "resolved_at", "closed_at", "active",
        "sys_created_on", "sys_updated_on", "sys_mod_count", "sys_created_by", "sys_updated_by",
    }),
    "sys_user": frozenset({"sys_id", "user_name", "email", "name", "active", "sys_updated_on", "sys_mod_count"}),
    "sys_user_group": frozenset({"sys_id", "name", "active", "sys_updated_on", "sys_mod_count"}),
}
# Reference fields Warden dot-walks through (`assignment_group.name`).
REFERENCES: dict[tuple[str, str], str] = {
    ("incident", "assignment_group"): "sys_user_group",
    ("incident", "assigned_to"): "sys_user",
    ("incident", "caller_id"): "sys_user",
}
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "IN", "NOTIN", "STARTSWITH", "ENDSWITH", "LIKE", "ISEMPTY",
             "ISNOTEMPTY")
UNARY = frozenset({"ISEMPTY", "ISNOTEMPTY"})
NAME = re.compile(r"^[a-z][a-z0-9_]{0,79}$")
TABLE = re.compile(r"^[a-z][a-z0-9_]{0,79}$")
MAX_VALUE = 500


class QueryInvalid(ValueError):
    """A query, field list or link Warden refuses to send or follow (nothing was sent)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_table(table: str) -> str:
    if not TABLE.match(table or "") or table not in TABLE_FIELDS:
        raise QueryInvalid(f"Unknown ServiceNow table {table!r}.")
    return table


def check_field(table: str, name: str) -> str:
    """`name` if it is a field of `table` Warden knows, dot-walking through references."""
    check_table(table)
    parts = (name or "").split(".")
    current = table
    for depth, part in enumerate(parts):
        if not NAME.match(part) or part not in TABLE_FIELDS[current]:
            raise QueryInvalid(f"Unknown field {name!r} for table {table!r}: refused, because ServiceNow would "
                               "ignore the condition and match every record.")
        if depth < len(parts) - 1:
            target = REFERENCES.get((current, part))
            if target is None:
                raise QueryInvalid(f"Field {part!r} of {current!r} is not a reference; {name!r} cannot be dot-walked.")
            current = target
    return name


def check_value(value: str) -> str:
    text = str(value)
    if "^" in text or any(ch in text for ch in "\r\n\t\x00") or len(text) > MAX_VALUE:
        raise QueryInvalid("A query value may not contain ^, control characters or more than "
                           f"{MAX_VALUE} characters.")
    return text


def glide_time(moment: datetime) -> str:
    """A datetime as ServiceNow writes it in queries and answers (UTC, seconds)."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime cannot be sent to ServiceNow")
    return moment.astimezone(UTC).strftime(GLIDE_TIME)


def parse_glide_time(text: str | None) -> datetime | None:
    """ServiceNow's `YYYY-MM-DD HH:MM:SS` (UTC) as an aware datetime; None when empty."""
    if not text:
        return None
    try:
        return datetime.strptime(text.strip(), GLIDE_TIME).replace(tzinfo=UTC)
    except ValueError:
        raise QueryInvalid(f"Not a ServiceNow date and time: {text!r}.") from None


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str = ""


@dataclass(frozen=True)
class Query:
    """An AND of conditions and an order, for one table; `encoded()` checks and builds."""

    table: str
    conditions: tuple[Condition, ...] = ()
    order_by: tuple[str, ...] = ()  # "field" ascending, "-field" descending

    def encoded(self) -> str:
        check_table(self.table)
        parts = []
        for condition in self.conditions:
            check_field(self.table, condition.field)
            if condition.op not in OPERATORS:
                raise QueryInvalid(f"Unknown query operator {condition.op!r}.")
            value = "" if condition.op in UNARY else check_value(condition.value)
            parts.append(f"{condition.field}{condition.op}{value}")
        for name in self.order_by:
            descending = name.startswith("-")
            field = check_field(self.table, name.lstrip("-"))
            parts.append(("ORDERBYDESC" if descending else "ORDERBY") + field)
        return "^".join(parts)


_TERM = re.compile(r"^(?P<field>[a-z][a-z0-9_.]*?)(?P<op>ISNOTEMPTY|ISEMPTY|STARTSWITH|ENDSWITH|NOTIN|LIKE|IN|>=|<=|!=|=|>|<)"
                   r"(?P<value>.*)$", re.S)


def parse_filter(table: str, text: str) -> tuple[Condition, ...]:
    """An admin's encoded query (AND-ed terms) as checked conditions: every field known,
    every operator known; no OR, NQ or ORDERBY (the poll owns the order)."""
    conditions = []
    for part in (text or "").strip().split("^"):
        if not part:
            continue
        if part.startswith(("OR", "NQ", "ORDERBY", "EQ")) or part.startswith("RL"):
            raise QueryInvalid(f"Only AND-ed conditions are accepted in a filter, not {part[:20]!r}.")
        match = _TERM.match(part)
        if match is None:
            raise QueryInvalid(f"Not a condition: {part[:60]!r} (use field, operator, value).")
        condition = Condition(match.group("field"), match.group("op"), match.group("value"))
        Query(table, (condition,)).encoded()  # checks the field, the operator and the value
        conditions.append(condition)
    return tuple(conditions)


def fields_param(table: str, fields: Iterable[str]) -> str:
    """`sysparm_fields`: every name checked (an unknown one would come back missing)."""
    names = [check_field(table, name) for name in fields]
    if not names:
        raise QueryInvalid("Ask for at least one field.")
    return ",".join(dict.fromkeys(names))


def table_path(table: str, sys_id: str | None = None) -> str:
    check_table(table)
    if sys_id is None:
        return f"/api/now/table/{table}"
    if not re.fullmatch(r"[0-9a-f]{32}", sys_id or ""):
        raise QueryInvalid(f"Not a sys_id: {sys_id!r}.")
    return f"/api/now/table/{table}/{sys_id}"


# --- Paging links -------------------------------------------------------------------------

_LINK = re.compile(r'<(?P<url>[^>]*)>\s*((?:;\s*[a-zA-Z]+\s*=\s*"?[^",;]*"?\s*)*)')
_PARAM = re.compile(r';\s*(?P<key>[a-zA-Z]+)\s*=\s*"?(?P<value>[^",;]*)"?')


def parse_link_header(value: str | None) -> dict[str, str]:
    """RFC 5988 `Link` header -> {rel: url} (the first URL of each rel wins)."""
    links: dict[str, str] = {}
    for match in _LINK.finditer(value or ""):
        for param in _PARAM.finditer(match.group(2) or ""):
            if param.group("key").lower() == "rel":
                for rel in param.group("value").split():
                    links.setdefault(rel.lower(), match.group("url").strip())
    return links


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def next_path(link_header: str | None, *, base_url: str, path: str, expected: dict[str, str]) -> str | None:
    """The path (with its query string) of the next page, or None on the last page.

    Refuses (QueryInvalid) a next link to another origin or table, or one whose
    `sysparm_query` / `sysparm_fields` differ from the ones we sent: the server may move
    the offset, nothing else."""
    url = parse_link_header(link_header).get("next")
    if not url:
        return None
    parts = urlsplit(url)
    if _origin(url) != _origin(base_url) or parts.path.rstrip("/") != path.rstrip("/"):
        raise QueryInvalid("The next-page link points elsewhere than the table we asked; not followed.")
    params = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    for key, value in expected.items():
        if params.get(key, "") != value:
            raise QueryInvalid(f"The next-page link changed {key}; not followed.")
    try:
        if int(params.get("sysparm_offset", "0")) < 0:
            raise ValueError
    except ValueError:
        raise QueryInvalid("The next-page link has no valid offset; not followed.") from None
    return parts.path + ("?" + parts.query if parts.query else "")
