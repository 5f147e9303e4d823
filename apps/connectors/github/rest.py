"""GitHub's REST API, as far as Warden uses it, through the connectors client (timeouts,
retries honouring Retry-After, the circuit breaker, dry run, the write cap, records).
Only HTTP here: what the answers mean is decided by the services.

Call these outside database transactions (client.py says why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..client import CallResult, ConnectorClient
from . import paging, payloads

HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
PER_PAGE = 100


def issue_create(client: ConnectorClient, *, repo: str, title: str, body: str) -> CallResult:
    """POST an issue. Not retried by the client after a 5xx or a lost answer (it may have
    been created): the caller searches for its marker before sending it again."""
    return client.post(f"/repos/{repo}/issues", json={"title": title, "body": body}, headers=HEADERS,
                       operation="github.issue_create", dead_letter=False)


def issue_get(client: ConnectorClient, *, repo: str, number: int) -> payloads.Issue:
    result = client.get(f"/repos/{repo}/issues/{int(number)}", headers=HEADERS, operation="github.issue_get")
    return payloads.issue(result.json(), repo=repo)


@dataclass
class Listing:
    items: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    truncated: bool = False  # stopped at max_pages with more to read


def _list(client: ConnectorClient, path: str, *, params: dict, max_pages: int, operation: str) -> Listing:
    listing = Listing()
    next_path: str | None = path
    first = True
    while next_path is not None and listing.pages < max_pages:
        result = client.get(next_path, params=params if first else None, headers=HEADERS, operation=operation)
        first = False
        listing.pages += 1
        page = result.json()
        if not isinstance(page, list):
            raise payloads.PayloadInvalid("a list answer that is not a list")
        listing.items.extend(item for item in page if isinstance(item, dict))
        next_path = paging.next_path(result.headers.get("Link"), base_url=client.connector.base_url)
    listing.truncated = next_path is not None
    return listing


def issues_updated_since(client: ConnectorClient, *, repo: str, since: datetime, max_pages: int) -> Listing:
    """The repository's issues (and pull requests) changed since `since`, oldest change
    first, open and closed."""
    params = {"state": "all", "since": _iso(since), "sort": "updated", "direction": "asc", "per_page": PER_PAGE}
    return _list(client, f"/repos/{repo}/issues", params=params, max_pages=max_pages,
                 operation="github.issues_since")


def comments_updated_since(client: ConnectorClient, *, repo: str, since: datetime, max_pages: int) -> Listing:
    """The repository's issue comments changed since `since`, oldest change first."""
    params = {"since": _iso(since), "sort": "updated", "direction": "asc", "per_page": PER_PAGE}
    return _list(client, f"/repos/{repo}/issues/comments", params=params, max_pages=max_pages,
                 operation="github.comments_since")


def _iso(value: datetime) -> str:
    """ISO 8601 in UTC with a Z, as GitHub writes its times."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
