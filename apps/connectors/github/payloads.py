"""What Warden reads from GitHub: webhook deliveries and REST answers, parsed into
typed values at the boundary. Pure (no ORM, no HTTP).

Only what processing needs is kept: ids, numbers, states, times, logins, URLs. Titles
and comment bodies are content: `Delivery.data(full_content=...)` keeps them only for
tenants in full-content mode (ARCHITECTURE.md, "Invariants").

An issue Warden created carries a marker in its body naming the tenant and ticket:

    <!-- warden:ticket acme#12 key=acme-github-link-7 -->

A delivery about an issue that is not linked here but whose marker names a ticket is
refused and audited (another organisation's ticket, or one nobody linked); the marker
never creates a link by itself (anyone who may edit the issue may write one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
MARKER = re.compile(r"<!--\s*warden:ticket\s+([a-z0-9][a-z0-9-]{0,39})#(\d{1,10})(?:\s+key=([A-Za-z0-9:_.-]{1,100}))?\s*-->")
_ISSUE_URL_NUMBER = re.compile(r"/issues/(\d{1,10})$")

# The events and actions processing acts on; every other verified delivery is answered
# and not stored.
HANDLED = {
    "issues": frozenset({"closed", "reopened"}),
    "issue_comment": frozenset({"created"}),
}


class PayloadInvalid(ValueError):
    """A payload without what its event must carry."""


def repo_name(value: Any) -> str:
    """`owner/name`, lower case (GitHub's names are case-insensitive), or PayloadInvalid."""
    text = str(value or "").strip()
    if not REPO.match(text) or ".." in text:
        raise PayloadInvalid(f"not a repository name: {text[:80]!r}")
    return text.lower()


def marker(*, tenant: str, number: int, key: str) -> str:
    return f"<!-- warden:ticket {tenant}#{number} key={key} -->"


@dataclass(frozen=True)
class TicketRef:
    tenant: str
    number: int
    key: str = ""


def find_marker(body: str | None) -> TicketRef | None:
    match = MARKER.search(body or "")
    if match is None:
        return None
    return TicketRef(tenant=match.group(1), number=int(match.group(2)), key=match.group(3) or "")


def timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise PayloadInvalid(f"not a timestamp: {str(value)[:40]!r}") from exc
    if parsed.tzinfo is None:
        raise PayloadInvalid("a timestamp without a time zone")
    return parsed


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadInvalid(f"{what} is not a number")
    return value


def _login(user: Any) -> str:
    return str((user or {}).get("login") or "")[:100] if isinstance(user, dict) else ""


@dataclass(frozen=True)
class Issue:
    repo: str
    number: int
    node_id: str
    url: str  # the page on GitHub (html_url)
    state: str  # open | closed
    state_reason: str
    title: str
    body: str
    updated_at: datetime | None
    is_pull_request: bool = False

    @property
    def names(self) -> TicketRef | None:
        return find_marker(self.body)


def issue(data: Any, *, repo: str | None = None) -> Issue:
    """An issue from a REST answer or a delivery's `issue` (its repository from
    `repository_url` when `repo` is not given)."""
    if not isinstance(data, dict):
        raise PayloadInvalid("the issue is missing")
    if repo is None:
        url = str(data.get("repository_url") or "")
        parts = url.rstrip("/").split("/")
        repo = repo_name("/".join(parts[-2:])) if len(parts) >= 2 else repo_name("")
    state = str(data.get("state") or "")
    if state not in ("open", "closed"):
        raise PayloadInvalid(f"unknown issue state {state[:20]!r}")
    return Issue(
        repo=repo,
        number=_int(data.get("number"), "the issue number"),
        node_id=str(data.get("node_id") or "")[:100],
        url=str(data.get("html_url") or "")[:500],
        state=state,
        state_reason=str(data.get("state_reason") or "")[:32],
        title=str(data.get("title") or ""),
        body=str(data.get("body") or ""),
        updated_at=timestamp(data.get("updated_at")),
        is_pull_request="pull_request" in data,
    )


@dataclass(frozen=True)
class Comment:
    id: int
    url: str
    author: str
    body: str
    created_at: datetime | None
    updated_at: datetime | None
    issue_number: int | None


def comment(data: Any) -> Comment:
    if not isinstance(data, dict):
        raise PayloadInvalid("the comment is missing")
    match = _ISSUE_URL_NUMBER.search(str(data.get("issue_url") or ""))
    return Comment(
        id=_int(data.get("id"), "the comment id"),
        url=str(data.get("html_url") or "")[:500],
        author=_login(data.get("user")),
        body=str(data.get("body") or ""),
        created_at=timestamp(data.get("created_at")),
        updated_at=timestamp(data.get("updated_at")),
        issue_number=int(match.group(1)) if match else None,
    )


@dataclass(frozen=True)
class Delivery:
    """A verified webhook delivery, parsed."""

    event: str
    action: str
    repo: str
    installation_id: int | None
    sender: str
    issue: Issue | None
    comment: Comment | None

    @property
    def handled(self) -> bool:
        return self.action in HANDLED.get(self.event, ())

    def data(self, *, full_content: bool) -> dict[str, Any]:
        """What is stored with the delivery (JSON): metadata, plus the title and the
        comment's text in full-content tenants only."""
        out: dict[str, Any] = {"sender": self.sender, "installation_id": self.installation_id}
        if self.issue is not None:
            names = self.issue.names
            out["issue"] = {
                "number": self.issue.number, "node_id": self.issue.node_id, "url": self.issue.url,
                "state": self.issue.state, "state_reason": self.issue.state_reason,
                "updated_at": self.issue.updated_at.isoformat() if self.issue.updated_at else None,
                "is_pull_request": self.issue.is_pull_request,
                "names": {"tenant": names.tenant, "number": names.number, "key": names.key} if names else None,
            }
            if full_content:
                out["issue"]["title"] = self.issue.title[:300]
        if self.comment is not None:
            out["comment"] = {
                "id": self.comment.id, "url": self.comment.url, "author": self.comment.author,
                "created_at": self.comment.created_at.isoformat() if self.comment.created_at else None,
                "updated_at": self.comment.updated_at.isoformat() if self.comment.updated_at else None,
            }
            if full_content:
                out["comment"]["body"] = self.comment.body
        return out


def delivery(*, event: str, payload: Any) -> Delivery:
    """Parse a delivery of `event` (X-GitHub-Event). Handled events must carry their
    repository and issue (and comment); others are parsed as far as they go."""
    if not isinstance(payload, dict):
        raise PayloadInvalid("the payload is not a JSON object")
    action = str(payload.get("action") or "")[:32]
    repository = payload.get("repository") if isinstance(payload.get("repository"), dict) else {}
    installation = payload.get("installation") if isinstance(payload.get("installation"), dict) else {}
    installation_id = installation.get("id")
    parsed = Delivery(
        event=event[:32], action=action, repo="", installation_id=None, sender=_login(payload.get("sender")),
        issue=None, comment=None,
    )
    if not parsed.handled:
        return parsed
    repo = repo_name(repository.get("full_name"))
    return Delivery(
        event=parsed.event,
        action=action,
        repo=repo,
        installation_id=installation_id if isinstance(installation_id, int) and not isinstance(installation_id, bool)
        else None,
        sender=parsed.sender,
        issue=issue(payload.get("issue"), repo=repo),
        comment=comment(payload.get("comment")) if event == "issue_comment" else None,
    )
