"""A fake GitHub: the REST API Warden uses and signed webhook deliveries, on 127.0.0.1.

Standard library only (no Django): tests import it, and it runs on its own for demos:

    python -m fakes.github --port 8025 --token ghp_demo --repo acme/app \\
        --hook 'http://127.0.0.1:8000/hooks/github/?connector=github' --hook-host acme.localhost \\
        --hook-secret 'a-long-random-webhook-secret'

What it does like the real service:

* **Auth**: `Authorization: Bearer <token>` (or `token <token>`); anything else is 401
  `{"message": "Bad credentials"}`. `GET /user` says whose token it is.
* **REST** under `/repos/{owner}/{repo}`: `POST /issues` (201; 422 without a title),
  `GET /issues/{n}` (404 when absent), `PATCH /issues/{n}` (state, state_reason, title,
  body), `GET /issues` (state open|closed|all, since, sort created|updated, direction,
  per_page up to 100, page), `GET /issues/{n}/comments`, `POST /issues/{n}/comments`,
  `GET /issues/comments` (since, sort, direction, paging), `GET` the repository itself.
  Times are ISO 8601 in UTC to the second; `since` keeps what was updated at or after it.
* **Paging**: `per_page` (default 30, at most 100) and `page`, with a `Link` header
  carrying `first`, `prev`, `next` and `last` as GitHub writes it.
* **Rate limits**: `X-RateLimit-*` headers on every answer; `throttle(times, retry_after)`
  answers the next requests 429 with `Retry-After` (a secondary rate limit);
  `fail(times, status)` answers them with a server error.
* **Webhooks**: `add_hook(url, secret=...)`; every change (through the API or by the
  simulated people below) queues a delivery of `issues` or `issue_comment` with
  `X-GitHub-Event`, `X-GitHub-Delivery` (a GUID), `X-Hub-Signature-256` (HMAC-SHA256 of
  the body) and `X-Hub-Signature` (SHA-1, legacy). Deliveries are sent by
  `deliver_pending()` (tests: from the test's own thread) or, with `auto_deliver=True`
  (the command), by a sender thread. Like GitHub, a failed delivery is not sent again
  unless someone asks (`redeliver(guid)`, same GUID); `drop_deliveries = True` loses
  them on purpose, to exercise the reconciliation.
* **People on GitHub**: `open_issue`, `close_issue`, `reopen_issue`, `comment` act as a
  GitHub user (not the token's), and send the deliveries that action would.

Every loop is bounded: a delivery is sent with a timeout, the sender thread waits with a
timeout and stops with the server.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import ipaddress
import json
import signal
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

DEFAULT_TOKEN = "ghp_fake_token_for_tests"
DEFAULT_LOGIN = "warden-bot"
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30
DELIVERY_TIMEOUT = 5.0
MAX_BODY_BYTES = 1024 * 1024
HOOK_EVENTS = ("issues", "issue_comment")

# (status, headers, body) of one answer
Answer = tuple[int, dict[str, str], Any]
# (url, headers, body) -> HTTP status of the receiver (0: it could not be reached)
Transport = Callable[[str, dict[str, str], bytes], int]


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def sign(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    digest = hmac.new(secret.encode("utf-8"), body, getattr(hashlib, algorithm)).hexdigest()
    return f"{algorithm}={digest}"


def http_transport(*, host: str | None = None, timeout: float = DELIVERY_TIMEOUT) -> Transport:
    """POST over HTTP to the URL, with `host` as the Host header when given (a tenant's
    host name on a server listening on 127.0.0.1)."""

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = connection_class(parts.hostname, parts.port, timeout=timeout)
        try:
            sent = dict(headers)
            if host:
                sent["Host"] = host if parts.port is None else f"{host}:{parts.port}"
            conn.request("POST", path or "/", body=body, headers=sent)
            response = conn.getresponse()
            response.read()
            return response.status
        except OSError:
            return 0
        finally:
            conn.close()

    return send


@dataclass
class Hook:
    id: int
    url: str
    secret: str
    events: tuple[str, ...]
    transport: Transport
    content_type: str = "json"  # or "form" (payload=<json>)
    installation_id: int | None = None


@dataclass
class Delivery:
    guid: str
    hook_id: int
    event: str
    action: str
    body: bytes
    headers: dict[str, str]
    dropped: bool = False
    attempts: list[int] = field(default_factory=list)  # the receiver's status per attempt

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


class FakeGitHub:
    def __init__(self, *, token: str = DEFAULT_TOKEN, login: str = DEFAULT_LOGIN, host: str = "127.0.0.1",
                 port: int = 0, auto_deliver: bool = False, clock: Callable[[], datetime] | None = None) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the fake GitHub listens on a loopback address only")
        self.tokens: dict[str, str] = {token: login}
        self.clock = clock or (lambda: datetime.now(UTC))
        self.repos: dict[str, dict] = {}
        self.issues: dict[str, list[dict]] = {}
        self.comments: dict[str, list[dict]] = {}
        self.hooks: list[Hook] = []
        self.deliveries: list[Delivery] = []
        self.pending: list[Delivery] = []
        self.requests: list[Seen] = []
        self.drop_deliveries = False
        self._script: list[Answer] = []
        self._ids = 1000
        self._remaining = 5000
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._sender: threading.Thread | None = None
        self.auto_deliver = auto_deliver
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "FakeGitHub/1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._answer((413, {}, {"message": "Payload too large"}))
                    return
                body = self.rfile.read(length) if length else b""
                answer = fake.handle(self.command, self.path, dict(self.headers.items()), body)
                self._answer(answer)

            def _answer(self, answer: Answer) -> None:
                status, headers, payload = answer
                data = b"" if payload is None else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815

        self.server = _Server((host, port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-github", daemon=True)

    # -- life --------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        self._thread.start()
        if self.auto_deliver:
            self._sender = threading.Thread(target=self._send_loop, name="fake-github-hooks", daemon=True)
            self._sender.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.server.shutdown()
        self.server.server_close()
        if self._sender is not None:
            self._sender.join(timeout=DELIVERY_TIMEOUT + 1)

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- set-up and scripting ----------------------------------------------------------

    def add_repo(self, full_name: str, *, private: bool = True) -> dict:
        owner, name = full_name.split("/", 1)
        with self._lock:
            key = full_name.lower()
            if key not in self.repos:
                repo_id = self._next_id()
                self.repos[key] = {
                    "id": repo_id, "node_id": f"R_{repo_id}", "name": name, "full_name": full_name,
                    "owner": {"login": owner, "id": self._next_id(), "type": "Organization"},
                    "private": private, "html_url": f"{self.url}/{full_name}", "url": f"{self.url}/repos/{full_name}",
                    "has_issues": True,
                }
                self.issues[key] = []
                self.comments[key] = []
            return self.repos[key]

    def add_token(self, token: str, login: str) -> None:
        self.tokens[token] = login

    def throttle(self, times: int = 1, *, retry_after: int = 1) -> None:
        """The next `times` API requests are answered 429 with Retry-After."""
        answer: Answer = (429, {"Retry-After": str(retry_after), "X-RateLimit-Remaining": "0"},
                          {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
                                      "you try again."})
        with self._lock:
            self._script.extend([answer] * times)

    def fail(self, times: int = 1, *, status: int = 502) -> None:
        """The next `times` API requests are answered with `status` (a server error)."""
        with self._lock:
            self._script.extend([(status, {}, {"message": "Server Error"})] * times)

    def add_hook(self, url: str, *, secret: str, events: tuple[str, ...] = HOOK_EVENTS, host: str | None = None,
                 transport: Transport | None = None, content_type: str = "json",
                 installation_id: int | None = None) -> Hook:
        with self._lock:
            hook = Hook(id=self._next_id(), url=url, secret=secret, events=tuple(events),
                        transport=transport or http_transport(host=host), content_type=content_type,
                        installation_id=installation_id)
            self.hooks.append(hook)
            return hook

    # -- people on GitHub (not the token's user) -----------------------------------------

    def open_issue(self, repo: str, title: str, body: str = "", *, by: str = "octocat") -> dict:
        with self._lock:
            return self._create_issue(repo, title=title, body=body, by=by)

    def close_issue(self, repo: str, number: int, *, by: str = "octocat", state_reason: str = "completed") -> dict:
        with self._lock:
            return self._set_state(repo, number, "closed", state_reason=state_reason, by=by)

    def reopen_issue(self, repo: str, number: int, *, by: str = "octocat") -> dict:
        with self._lock:
            return self._set_state(repo, number, "open", state_reason="reopened", by=by)

    def comment(self, repo: str, number: int, body: str, *, by: str = "octocat") -> dict:
        with self._lock:
            return self._create_comment(repo, number, body=body, by=by)

    def issue(self, repo: str, number: int) -> dict | None:
        with self._lock:
            return next((i for i in self.issues.get(repo.lower(), []) if i["number"] == number), None)

    # -- webhooks ------------------------------------------------------------------------

    def deliver_pending(self, *, limit: int = 100) -> list[Delivery]:
        """Send what is queued (at most `limit`), in order; each once."""
        with self._lock:
            batch, self.pending = self.pending[:limit], self.pending[limit:]
        for delivery in batch:
            self._send(delivery)
        return batch

    def redeliver(self, guid: str) -> Delivery:
        """Send a delivery again with the same GUID (GitHub's "Redeliver" button)."""
        delivery = next(d for d in self.deliveries if d.guid == guid)
        self._send(delivery)
        return delivery

    def ping(self, hook: Hook) -> Delivery:
        payload = {"zen": "Keep it logically awesome.", "hook_id": hook.id,
                   "hook": {"type": "Repository", "id": hook.id, "events": list(hook.events), "active": True}}
        delivery = self._delivery(hook, "ping", payload)
        self._send(delivery)
        return delivery

    def _send(self, delivery: Delivery) -> None:
        hook = next(h for h in self.hooks if h.id == delivery.hook_id)
        delivery.attempts.append(hook.transport(hook.url, dict(delivery.headers), delivery.body))

    def _send_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            if not self._stopping.is_set():
                self.deliver_pending(limit=20)

    def _delivery(self, hook: Hook, event: str, payload: dict) -> Delivery:
        if hook.installation_id is not None:
            payload = {**payload, "installation": {"id": hook.installation_id, "node_id": f"I_{hook.installation_id}"}}
        raw = json.dumps(payload).encode()
        body = urlencode({"payload": raw.decode()}).encode() if hook.content_type == "form" else raw
        guid = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/x-www-form-urlencoded" if hook.content_type == "form" else "application/json",
            "User-Agent": "GitHub-Hookshot/fake",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": str(hook.id),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-Hub-Signature-256": sign(hook.secret, body, "sha256"),
            "X-Hub-Signature": sign(hook.secret, body, "sha1"),
        }
        delivery = Delivery(guid=guid, hook_id=hook.id, event=event, action=str(payload.get("action") or ""),
                            body=body, headers=headers)
        self.deliveries.append(delivery)
        return delivery

    def _fire(self, event: str, payload: dict) -> None:
        for hook in self.hooks:
            if event not in hook.events and "*" not in hook.events:
                continue
            delivery = self._delivery(hook, event, payload)
            if self.drop_deliveries:
                delivery.dropped = True
                continue
            self.pending.append(delivery)
        self._wake.set()

    # -- state changes -------------------------------------------------------------------

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _now(self) -> str:
        return iso(self.clock())

    def _user(self, login: str) -> dict:
        return {"login": login, "id": zlib.crc32(login.encode()) % 10**8, "type": "Bot" if login.endswith("[bot]") else "User"}

    def _repo_or_none(self, repo: str) -> dict | None:
        return self.repos.get(repo.lower())

    def _create_issue(self, repo: str, *, title: str, body: str, by: str) -> dict:
        repository = self.add_repo(repo) if self._repo_or_none(repo) is None else self._repo_or_none(repo)
        full = repository["full_name"]
        items = self.issues[full.lower()]
        number = len(items) + 1
        now = self._now()
        issue_id = self._next_id()
        issue = {
            "id": issue_id, "node_id": f"I_kw{issue_id}", "number": number, "title": title, "body": body,
            "state": "open", "state_reason": None, "locked": False, "comments": 0, "labels": [], "assignees": [],
            "user": self._user(by), "created_at": now, "updated_at": now, "closed_at": None,
            "url": f"{self.url}/repos/{full}/issues/{number}",
            "repository_url": f"{self.url}/repos/{full}",
            "comments_url": f"{self.url}/repos/{full}/issues/{number}/comments",
            "html_url": f"{self.url}/{full}/issues/{number}",
        }
        items.append(issue)
        self._fire("issues", {"action": "opened", "issue": dict(issue), "repository": repository,
                              "sender": self._user(by)})
        return dict(issue)

    def _set_state(self, repo: str, number: int, state: str, *, state_reason: str | None, by: str) -> dict:
        issue = self.issue(repo, number)
        if issue is None:
            raise KeyError(f"{repo}#{number}")
        if issue["state"] == state:
            return dict(issue)
        now = self._now()
        issue.update(state=state, updated_at=now, closed_at=now if state == "closed" else None,
                     state_reason=state_reason if state == "closed" else "reopened")
        if state == "closed":
            issue["closed_by"] = self._user(by)
        self._fire("issues", {"action": "closed" if state == "closed" else "reopened", "issue": dict(issue),
                              "repository": self._repo_or_none(repo), "sender": self._user(by)})
        return dict(issue)

    def _create_comment(self, repo: str, number: int, *, body: str, by: str) -> dict:
        issue = self.issue(repo, number)
        if issue is None:
            raise KeyError(f"{repo}#{number}")
        full = self._repo_or_none(repo)["full_name"]
        now = self._now()
        comment_id = self._next_id()
        comment = {
            "id": comment_id, "node_id": f"IC_kw{comment_id}", "body": body, "user": self._user(by),
            "created_at": now, "updated_at": now, "author_association": "MEMBER",
            "url": f"{self.url}/repos/{full}/issues/comments/{comment_id}",
            "html_url": f"{self.url}/{full}/issues/{number}#issuecomment-{comment_id}",
            "issue_url": f"{self.url}/repos/{full}/issues/{number}",
        }
        self.comments[full.lower()].append(comment)
        issue.update(comments=issue["comments"] + 1, updated_at=now)
        self._fire("issue_comment", {"action": "created", "issue": dict(issue), "comment": dict(comment),
                                     "repository": self._repo_or_none(repo), "sender": self._user(by)})
        return dict(comment)

    # -- the REST API --------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Answer:
        """One API request (the HTTP handler's work; also callable directly)."""
        with self._lock:
            self.requests.append(Seen(method, raw_path, headers, body))
            self._remaining = max(0, self._remaining - 1)
            limits = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(self._remaining),
                      "X-RateLimit-Reset": str(int(time.time()) + 3600), "X-RateLimit-Used": str(5000 - self._remaining),
                      "X-RateLimit-Resource": "core"}
            if self._script:
                status, extra, payload = self._script.pop(0)
                return status, {**limits, **extra}, payload
            auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
            scheme, _, token = auth.partition(" ")
            login = self.tokens.get(token.strip()) if scheme.lower() in ("bearer", "token") else None
            if login is None:
                return 401, limits, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
            try:
                status, extra, payload = self._route(method, raw_path, body, login)
            except ValueError:
                status, extra, payload = 400, {}, {"message": "Problems parsing JSON"}
            return status, {**limits, **extra}, payload

    def _route(self, method: str, raw_path: str, body: bytes, login: str) -> Answer:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = [s for s in parts.path.split("/") if s]
        data = json.loads(body or b"{}") if method in ("POST", "PATCH", "PUT") else {}
        if not isinstance(data, dict):
            raise ValueError("not an object")
        if segments == ["user"] and method == "GET":
            return 200, {}, {**self._user(login), "name": login}
        if len(segments) < 3 or segments[0] != "repos":
            return _not_found()
        repo_key = f"{segments[1]}/{segments[2]}"
        repository = self._repo_or_none(repo_key)
        if repository is None:
            return _not_found()
        rest = segments[3:]
        if not rest and method == "GET":
            return 200, {}, repository
        if rest == ["issues"] and method == "GET":
            return self._page(parts.path, query, self._issues(repository, query))
        if rest == ["issues"] and method == "POST":
            title = data.get("title")
            if not isinstance(title, str) or not title.strip():
                return 422, {}, {"message": "Validation Failed",
                                 "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}]}
            issue = self._create_issue(repo_key, title=title, body=str(data.get("body") or ""), by=login)
            return 201, {"Location": issue["url"]}, issue
        if rest == ["issues", "comments"] and method == "GET":
            return self._page(parts.path, query, self._sorted(self.comments[repository["full_name"].lower()], query))
        if len(rest) >= 2 and rest[0] == "issues" and rest[1].isdigit():
            number = int(rest[1])
            issue = self.issue(repo_key, number)
            if issue is None:
                return _not_found()
            if len(rest) == 2 and method == "GET":
                return 200, {}, issue
            if len(rest) == 2 and method == "PATCH":
                return self._patch(repo_key, issue, data, login)
            if rest[2:] == ["comments"] and method == "GET":
                own = [c for c in self.comments[repository["full_name"].lower()]
                       if c["issue_url"].endswith(f"/issues/{number}")]
                return self._page(parts.path, query, self._sorted(own, query, default_sort="created",
                                                                   default_direction="asc"))
            if rest[2:] == ["comments"] and method == "POST":
                text = data.get("body")
                if not isinstance(text, str) or not text.strip():
                    return 422, {}, {"message": "Validation Failed",
                                     "errors": [{"resource": "IssueComment", "field": "body", "code": "missing_field"}]}
                comment = self._create_comment(repo_key, number, body=text, by=login)
                return 201, {"Location": comment["url"]}, comment
        return _not_found()

    def _patch(self, repo: str, issue: dict, data: dict, login: str) -> Answer:
        state = data.get("state")
        if state is not None and state not in ("open", "closed"):
            return 422, {}, {"message": "Validation Failed",
                             "errors": [{"resource": "Issue", "field": "state", "code": "invalid"}]}
        changed = False
        for key in ("title", "body"):
            if isinstance(data.get(key), str) and data[key] != issue[key]:
                issue[key], changed = data[key], True
        if changed:
            issue["updated_at"] = self._now()
            self._fire("issues", {"action": "edited", "issue": dict(issue), "repository": self._repo_or_none(repo),
                                  "sender": self._user(login)})
        if state is not None and state != issue["state"]:
            reason = data.get("state_reason") or ("completed" if state == "closed" else "reopened")
            self._set_state(repo, issue["number"], state, state_reason=reason, by=login)
        return 200, {}, dict(self.issue(repo, issue["number"]))

    def _issues(self, repository: dict, query: dict) -> list[dict]:
        state = query.get("state", "open")
        items = self.issues[repository["full_name"].lower()]
        if state in ("open", "closed"):
            items = [i for i in items if i["state"] == state]
        return self._sorted(items, query)

    def _sorted(self, items: list[dict], query: dict, *, default_sort: str = "created",
                default_direction: str = "desc") -> list[dict]:
        since = parse_time(query["since"]) if query.get("since") else None
        if since is not None:
            items = [i for i in items if parse_time(i["updated_at"]) >= since]
        key = "updated_at" if query.get("sort", default_sort) == "updated" else "created_at"
        reverse = query.get("direction", default_direction) != "asc"
        return sorted(items, key=lambda i: (i[key], i["id"]), reverse=reverse)

    def _page(self, path: str, query: dict, items: list[dict]) -> Answer:
        try:
            per_page = min(MAX_PER_PAGE, max(1, int(query.get("per_page", DEFAULT_PER_PAGE))))
            page = max(1, int(query.get("page", 1)))
        except ValueError:
            return 422, {}, {"message": "Validation Failed"}
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        rels = []

        def url(number: int) -> str:
            return f"{self.url}{path}?{urlencode({**query, 'per_page': per_page, 'page': number})}"

        if page < last:
            rels += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            rels += [f'<{url(1)}>; rel="first"', f'<{url(min(page - 1, last))}>; rel="prev"']
        return 200, ({"Link": ", ".join(rels)} if rels else {}), [dict(i) for i in chunk]


def _not_found() -> Answer:
    return 404, {}, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes.github", description="A fake GitHub on 127.0.0.1.")
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the token the API accepts")
    parser.add_argument("--login", default=DEFAULT_LOGIN, help="whose token it is (GET /user)")
    parser.add_argument("--repo", action="append", default=[], help="owner/name (repeatable)")
    parser.add_argument("--hook", help="URL deliveries are POSTed to")
    parser.add_argument("--hook-secret", default="", help="the webhook secret deliveries are signed with")
    parser.add_argument("--hook-host", help="Host header of the deliveries (a tenant's host name)")
    parser.add_argument("--drop-deliveries", action="store_true", help="lose every delivery (reconciliation demo)")
    args = parser.parse_args(argv)
    try:
        fake = FakeGitHub(token=args.token, login=args.login, host=args.host, port=args.port, auto_deliver=True)
    except ValueError as exc:
        parser.error(str(exc))
    for repo in args.repo:
        fake.add_repo(repo)
    if args.hook:
        if not args.hook_secret:
            parser.error("--hook needs --hook-secret")
        fake.add_hook(args.hook, secret=args.hook_secret, host=args.hook_host)
    fake.drop_deliveries = args.drop_deliveries
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    fake.start()
    print(json.dumps({"url": fake.url, "login": args.login, "repos": args.repo, "hook": args.hook}), flush=True)
    try:
        while not stop.wait(timeout=1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
