"""The ServiceNow Table API over the connectors' client (HTTP only; no ORM, no rules).

Every call goes through `ConnectorClient` (guard, timeouts, retries with backoff and
Retry-After, the circuit breaker, records). Queries and field lists are built and
checked by `query.py` before anything is sent; answers are checked for their shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ..client import CallFailed, ConnectorClient
from ..models import Connector
from . import query as q


class AnswerInvalid(CallFailed):
    """The service answered 2xx with something that is not a Table API answer."""


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int | None  # X-Total-Count
    next_path: str | None  # the Link header's next page (checked), None on the last page
    path: str  # the path and query string this page was read from


def _result(answer, *, many: bool):
    try:
        body = answer.json()
    except ValueError:
        raise AnswerInvalid("answer", "ServiceNow answered something that is not JSON.",
                            status_code=answer.status_code) from None
    result = body.get("result") if isinstance(body, dict) else None
    if many and not (isinstance(result, list) and all(isinstance(row, dict) for row in result)):
        raise AnswerInvalid("answer", "ServiceNow's answer has no list of records.", status_code=answer.status_code)
    if not many and not isinstance(result, dict):
        raise AnswerInvalid("answer", "ServiceNow's answer has no record.", status_code=answer.status_code)
    return result


class TableApi:
    def __init__(self, connector: Connector, *, client: ConnectorClient | None = None, **client_options) -> None:
        self.connector = connector
        self.client = client or ConnectorClient(connector, **client_options)

    def first_page_path(self, *, query: q.Query, fields: Sequence[str], limit: int) -> tuple[str, dict[str, str]]:
        """(path with query string, the parameters a next link must repeat). Raises
        QueryInvalid before anything is sent."""
        params = {
            "sysparm_query": query.encoded(),
            "sysparm_fields": q.fields_param(query.table, fields),
            "sysparm_exclude_reference_link": "true",
            "sysparm_limit": str(int(limit)),
        }
        return f"{q.table_path(query.table)}?{urlencode({**params, 'sysparm_offset': '0'})}", params

    def page(self, path: str, *, table: str, expected: dict[str, str], operation: str = "poll") -> Page:
        answer = self.client.get(path, operation=operation)
        rows = _result(answer, many=True)
        headers = {key.lower(): value for key, value in answer.headers.items()}
        try:
            total = int(headers["x-total-count"]) if "x-total-count" in headers else None
        except ValueError:
            total = None
        following = q.next_path(headers.get("link"), base_url=self.connector.base_url, path=q.table_path(table),
                                expected=expected)
        return Page(rows=rows, total=total, next_path=following, path=path)

    def get(self, table: str, sys_id: str, *, fields: Sequence[str], operation: str = "read") -> dict[str, Any]:
        params = {"sysparm_fields": q.fields_param(table, fields), "sysparm_exclude_reference_link": "true"}
        answer = self.client.get(f"{q.table_path(table, sys_id)}?{urlencode(params)}", operation=operation)
        return _result(answer, many=False)

    def patch(self, table: str, sys_id: str, values: dict[str, str], *, fields: Sequence[str], idempotency_key: str,
              operation: str = "writeback") -> tuple[dict[str, Any] | None, bool]:
        """(the record as it is after the write, dry_run). Every field name is checked
        first: ServiceNow would ignore an unknown one and answer 200."""
        for name in values:
            q.check_field(table, name)
        params = {"sysparm_fields": q.fields_param(table, fields), "sysparm_exclude_reference_link": "true"}
        answer = self.client.patch(f"{q.table_path(table, sys_id)}?{urlencode(params)}", json=values,
                                   idempotency_key=idempotency_key, operation=operation, dead_letter=False)
        if answer.dry_run:
            return None, True
        return _result(answer, many=False), False

    def find_one(self, table: str, *, field: str, value: str, fields: Sequence[str]) -> list[dict[str, Any]]:
        """Up to two records whose `field` equals `value` (two: the caller can tell an
        ambiguous name from a unique one)."""
        path, _ = self.first_page_path(query=q.Query(table, (q.Condition(field, "=", value),)), fields=fields, limit=2)
        answer = self.client.get(path, operation="lookup")
        return _result(answer, many=True)
