"""A fake ServiceNow Table API on 127.0.0.1: real HTTP, the behaviour Warden relies on.

    python -m fakes.servicenow --port 8899 [--user warden --password pw] [--token t] [--seed 1000] [--lenient]

What it does like the real Table API (`/api/now/table/<table>`):

* tables `incident`, `sys_user`, `sys_user_group`; records are flat string values, with
  `sys_id` (32 hex), `sys_mod_count` (incremented by every update, journal-only ones
  included) and `sys_updated_on` (`YYYY-MM-DD HH:MM:SS`, UTC) kept by the server;
* `GET` lists with `sysparm_query` (encoded query: `field<op>value` terms joined by `^`,
  operators `= != > >= < <= IN NOTIN STARTSWITH ENDSWITH LIKE ISEMPTY ISNOTEMPTY`, and
  `ORDERBY<field>` / `ORDERBYDESC<field>`), `sysparm_fields` (dot-walking through
  references: `assignment_group.name`), `sysparm_exclude_reference_link`,
  `sysparm_limit` / `sysparm_offset` paging with the total in `X-Total-Count` and an
  RFC 5988 `Link` header (`rel="first"`, `"prev"`, `"next"`, `"last"`);
* `GET`, `PATCH`, `PUT` of one record by sys_id, `POST` to create; journal fields
  (`work_notes`, `comments`) are appended to the record's journal, never stored as a
  value, and read back empty, as the real API does;
* errors as `{"error": {"message", "detail"}, "status": "failure"}`: 401 without valid
  Basic or Bearer credentials, 404 for an unknown record or table, 400 for a bad query.

Unknown field names in `sysparm_query`: the real service, by default, drops the invalid
term and so matches *every* record; an instance can be set to refuse such queries
instead. The fake refuses them (400) unless started `--lenient`, which behaves like the
default instance. Clients must validate field names before sending either way.

Control, for tests and benchmarks (no credentials; the server only listens on loopback):
the Python API (`seed`, `create`, `change`, `change_many`, `fail_next`, `journal`,
`requests`) and the same over HTTP under `/_fake/`: `POST /_fake/seed {"count"}`,
`POST /_fake/incidents {fields}`, `PATCH /_fake/incidents/<sys_id> {fields}`,
`POST /_fake/change {"count"|"fraction", "fields"}`, `POST /_fake/faults [{"status":
429, "retry_after": 2}, {"status": 503}, {"delay": 5}]`, `GET /_fake/state`,
`GET /_fake/journal/<sys_id>`, `POST /_fake/reset`.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import json
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TABLE_PATH = re.compile(r"^/api/now/table/(?P<table>[a-z_]+)(?:/(?P<sys_id>[^/]+))?/?$")
TERM = re.compile(
    r"^(?P<field>[A-Za-z_][A-Za-z0-9_.]*?)"
    r"(?P<op>ISNOTEMPTY|ISEMPTY|STARTSWITH|ENDSWITH|NOTIN|LIKE|IN|>=|<=|!=|=|>|<)(?P<value>.*)$",
    re.S,
)
JOURNAL_FIELDS = frozenset({"work_notes", "comments"})
SERVER_FIELDS = frozenset({"sys_id", "sys_mod_count", "sys_updated_on", "sys_created_on", "sys_created_by",
                           "sys_updated_by"})

TABLES: dict[str, frozenset[str]] = {
    "incident": frozenset({
        "sys_id", "number", "state", "priority", "impact", "urgency", "category", "subcategory",
        "assignment_group", "assigned_to", "caller_id", "short_description", "description", "work_notes",
        "comments", "close_code", "close_notes", "opened_at", "resolved_at", "closed_at", "active",
        "sys_created_on", "sys_updated_on", "sys_mod_count", "sys_created_by", "sys_updated_by",
    }),
    "sys_user": frozenset({"sys_id", "user_name", "email", "name", "active", "sys_created_on", "sys_updated_on",
                           "sys_mod_count"}),
    "sys_user_group": frozenset({"sys_id", "name", "active", "sys_created_on", "sys_updated_on", "sys_mod_count"}),
}
REFERENCES = {
    ("incident", "assignment_group"): "sys_user_group",
    ("incident", "assigned_to"): "sys_user",
    ("incident", "caller_id"): "sys_user",
}
DEFAULT_LIMIT = 10_000
CATEGORIES = ("inquiry", "software", "hardware", "network", "database")


class QueryError(ValueError):
    pass


@dataclass
class Fault:
    """One injected answer: an error `status` (with `retry_after` seconds for a 429), or a
    `delay` before answering normally (a timeout for a client with a shorter read timeout)."""

    status: int = 0
    retry_after: float | None = None
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    status: int = 0


@dataclass
class _Term:
    field: str
    op: str
    value: str


@dataclass
class _Query:
    terms: list[_Term] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_query(text: str, *, fields: frozenset[str], strict: bool) -> _Query:
    """An encoded query (AND-ed terms only). Unknown fields: QueryError when `strict`,
    else the term is dropped (the real default: the query then matches more)."""
    query = _Query()
    if not text:
        return query
    for part in text.split("^"):
        if not part or part == "EQ":
            continue
        if part.startswith(("OR", "NQ")) and not part.startswith("ORDERBY"):
            raise QueryError("OR and NQ conditions are not supported by this fake")
        if part.startswith("ORDERBY"):
            descending = part.startswith("ORDERBYDESC")
            name = part[len("ORDERBYDESC"):] if descending else part[len("ORDERBY"):]
            if name.split(".", 1)[0] not in fields:
                if strict:
                    raise QueryError(f"Invalid field name in order by: {name}")
                continue
            query.order.append((name, descending))
            continue
        match = TERM.match(part)
        if match is None:
            if strict:
                raise QueryError(f"Invalid query term: {part}")
            continue
        name = match.group("field")
        if name.split(".", 1)[0] not in fields:
            if strict:
                raise QueryError(f"Invalid field name: {name}")
            continue
        query.terms.append(_Term(name, match.group("op"), match.group("value")))
    return query


def _compare(left: str, right: str) -> int:
    try:
        a, b = int(left), int(right)
    except (TypeError, ValueError):
        a, b = left or "", right or ""  # type: ignore[assignment]
    return (a > b) - (a < b)


def _matches(value: str, term: _Term) -> bool:
    op, wanted = term.op, term.value
    value = "" if value is None else str(value)
    if op == "=":
        return value == wanted
    if op == "!=":
        return value != wanted
    if op == "ISEMPTY":
        return value == ""
    if op == "ISNOTEMPTY":
        return value != ""
    if op == "IN":
        return value in wanted.split(",")
    if op == "NOTIN":
        return value not in wanted.split(",")
    if op == "STARTSWITH":
        return value.startswith(wanted)
    if op == "ENDSWITH":
        return value.endswith(wanted)
    if op == "LIKE":
        return wanted.lower() in value.lower()
    result = _compare(value, wanted)
    return {">": result > 0, ">=": result >= 0, "<": result < 0, "<=": result <= 0}[op]


class FakeServiceNow:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, user: str = "warden", password: str = "",
                 token: str = "", strict: bool = True, clock: Callable[[], datetime] | None = None) -> None:
        self.user, self.password, self.token = user, password, token
        self.strict = strict
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self.tables: dict[str, dict[str, dict[str, str]]] = {name: {} for name in TABLES}
        self._journal: dict[str, list[dict[str, str]]] = {}
        self._faults: deque[Fault] = deque()
        self.requests: list[Seen] = []
        self.record_requests = True
        self._number = 10000
        self._index: list[tuple[str, str]] | None = None  # incidents by (sys_updated_on, sys_id)
        self.server = _Server((host, port), _handler(self))
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-servicenow", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeServiceNow:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeServiceNow:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- control (Python API) ------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            for rows in self.tables.values():
                rows.clear()
            self._journal.clear()
            self._faults.clear()
            self.requests.clear()
            self._number = 10000
            self._index = None

    def fail_next(self, *faults: Fault) -> None:
        """The next requests (any path but /_fake/) get these answers, in order."""
        with self._lock:
            self._faults.extend(faults)

    def now(self) -> str:
        return format_time(self.clock())

    def add_group(self, name: str) -> str:
        return self.insert("sys_user_group", {"name": name, "active": "true"})["sys_id"]

    def add_user(self, email: str, name: str = "") -> str:
        user_name = email.split("@", 1)[0]
        return self.insert("sys_user", {"email": email, "user_name": user_name, "name": name or user_name,
                                        "active": "true"})["sys_id"]

    def insert(self, table: str, values: dict, *, at: datetime | None = None) -> dict[str, str]:
        with self._lock:
            stamp = format_time(at) if at is not None else self.now()
            record = {name: "" for name in TABLES[table] if name not in JOURNAL_FIELDS}
            record.update({
                "sys_id": values.get("sys_id") or uuid.uuid4().hex, "sys_mod_count": "0", "sys_created_on": stamp,
                "sys_updated_on": stamp, "sys_created_by": "admin", "sys_updated_by": "admin",
            })
            if table == "incident":
                self._number += 1
                record.update(number=f"INC{self._number:07d}", state="1", impact="2", urgency="2", priority="3",
                              category="inquiry", opened_at=stamp, active="true")
            for name, value in values.items():
                if name in JOURNAL_FIELDS:
                    self._journal.setdefault(record["sys_id"], []).append(
                        {"field": name, "value": str(value), "at": stamp})
                elif name != "sys_id":
                    record[name] = "" if value is None else str(value)
            self.tables[table][record["sys_id"]] = record
            if table == "incident":
                self._index = None
            return dict(record)

    def create(self, *, at: datetime | None = None, **values) -> dict[str, str]:
        """A new incident (defaults: state 1, impact/urgency 2, priority 3, category inquiry)."""
        return self.insert("incident", values, at=at)

    def seed(self, count: int, *, start: datetime | None = None, step_seconds: float = 1.0,
             groups: Iterable[str] = ("Service Desk", "Network", "Database"), **values) -> list[str]:
        """`count` incidents updated `step_seconds` apart from `start` (default: so that the
        last one is now), spread over a few groups, categories and states."""
        with self._lock:
            group_ids = [self._group_id(name) for name in groups]
            now = self.clock()
            start = start or now - timedelta(seconds=step_seconds * count)
            ids = []
            for i in range(count):
                record = {
                    "state": ("1", "2", "2", "3", "6", "7")[i % 6], "impact": str(1 + i % 3),
                    "urgency": str(1 + (i // 3) % 3), "priority": str(1 + i % 5), "category": CATEGORIES[i % 5],
                    "assignment_group": group_ids[i % len(group_ids)] if group_ids else "",
                    "short_description": f"Synthetic incident {i}", "description": f"Seeded by the fake ({i}).",
                    **values,
                }
                ids.append(self.insert("incident", record, at=start + timedelta(seconds=step_seconds * i))["sys_id"])
            return ids

    def _group_id(self, name: str) -> str:
        for sys_id, row in self.tables["sys_user_group"].items():
            if row["name"] == name:
                return sys_id
        return self.add_group(name)

    def change(self, sys_id: str, *, at: datetime | None = None, table: str = "incident", **values) -> dict[str, str]:
        """An update as a person in ServiceNow makes it: fields set (journal fields appended),
        sys_mod_count + 1, sys_updated_on = now (or `at`)."""
        with self._lock:
            record = self.tables[table].get(sys_id)
            if record is None:
                raise KeyError(sys_id)
            stamp = format_time(at) if at is not None else self.now()
            for name, value in values.items():
                if name in SERVER_FIELDS:
                    continue
                if name in JOURNAL_FIELDS:
                    self._journal.setdefault(sys_id, []).append({"field": name, "value": str(value), "at": stamp})
                else:
                    record[name] = "" if value is None else str(value)
            record["sys_mod_count"] = str(int(record["sys_mod_count"]) + 1)
            record["sys_updated_on"] = stamp
            if table == "incident":
                self._index = None
            return dict(record)

    def change_many(self, count: int, *, rng: random.Random | None = None, **values) -> list[str]:
        """`count` distinct incidents changed (chosen at random): with `values` when given,
        else the next urgency and a work note each."""
        rng = rng or random.Random(count)  # noqa: S311 - a reproducible choice, not a secret
        with self._lock:
            ids = rng.sample(sorted(self.tables["incident"]), min(count, len(self.tables["incident"])))
            for sys_id in ids:
                urgency = str(1 + int(self.tables["incident"][sys_id]["urgency"] or 2) % 3)
                self.change(sys_id, **(values or {"urgency": urgency, "work_notes": "changed by the fake"}))
            return ids

    def get(self, sys_id: str, table: str = "incident") -> dict[str, str]:
        with self._lock:
            return dict(self.tables[table][sys_id])

    def journal(self, sys_id: str) -> list[dict[str, str]]:
        with self._lock:
            return [dict(entry) for entry in self._journal.get(sys_id, [])]

    def state(self) -> dict:
        with self._lock:
            return {"incidents": len(self.tables["incident"]), "users": len(self.tables["sys_user"]),
                    "groups": len(self.tables["sys_user_group"]), "requests": len(self.requests),
                    "faults_pending": len(self._faults), "strict": self.strict}

    # -- serving -------------------------------------------------------------------------

    def _authorized(self, headers) -> bool:
        value = headers.get("Authorization") or ""
        if value.startswith("Bearer ") and self.token:
            return value[len("Bearer "):] == self.token
        if value.startswith("Basic ") and self.password:
            try:
                user, _, password = base64.b64decode(value[len("Basic "):]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return user == self.user and password == self.password
        return False

    def _take_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def handle_table(self, method: str, path: str, query: dict[str, str], headers, body: bytes,
                     base: str) -> tuple[int, dict[str, str], object]:
        match = TABLE_PATH.match(path)
        if match is None or match.group("table") not in TABLES:
            return _error(400 if match is None else 404, "Invalid table", f"{path} is not a table this fake serves")
        if not self._authorized(headers):
            return _error(401, "User Not Authenticated", "Required to provide Auth information")
        table, sys_id = match.group("table"), match.group("sys_id")
        if method == "GET":
            if sys_id:
                return self._get_one(table, sys_id, query, base)
            return self._list(table, query, base, path)
        try:
            values = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "Invalid body", "The request body is not JSON")
        if not isinstance(values, dict):
            return _error(400, "Invalid body", "The request body must be a JSON object")
        unknown = sorted(name for name in values if name not in TABLES[table])
        if unknown and self.strict:
            return _error(400, "Invalid field", f"Unknown field(s) for {table}: {', '.join(unknown)}")
        values = {k: v for k, v in values.items() if k in TABLES[table]}
        if method == "POST" and not sys_id:
            record = self.insert(table, values)
            return 201, {}, {"result": self._project(table, record, query, base)}
        if method in ("PATCH", "PUT") and sys_id:
            try:
                record = self.change(sys_id, table=table, **values)
            except KeyError:
                return _error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
            return 200, {}, {"result": self._project(table, record, query, base)}
        return _error(405, "Method not allowed", f"{method} {path}")

    def _get_one(self, table: str, sys_id: str, query: dict[str, str], base: str):
        with self._lock:
            record = self.tables[table].get(sys_id)
            if record is None:
                return _error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
            return 200, {}, {"result": self._project(table, record, query, base)}

    def _list(self, table: str, query: dict[str, str], base: str, path: str):
        try:
            parsed = parse_query(query.get("sysparm_query", ""), fields=TABLES[table], strict=self.strict)
            limit = int(query.get("sysparm_limit") or DEFAULT_LIMIT)
            offset = int(query.get("sysparm_offset") or 0)
        except QueryError as exc:
            return _error(400, "Invalid query", str(exc))
        except ValueError:
            return _error(400, "Invalid paging", "sysparm_limit and sysparm_offset must be integers")
        if limit < 1 or offset < 0:
            return _error(400, "Invalid paging", "sysparm_limit must be positive and sysparm_offset not negative")
        with self._lock:
            rows = self._select(table, parsed)
            total = len(rows)
            page = [self._project(table, row, query, base) for row in rows[offset:offset + limit]]
        headers = {"X-Total-Count": str(total), "Link": _links(base + path, query, offset, limit, total)}
        return 200, headers, {"result": page}

    def _select(self, table: str, query: _Query) -> list[dict[str, str]]:
        rows = self.tables[table]
        terms = list(query.terms)
        if table == "incident" and query.order[:1] == [("sys_updated_on", False)] and \
                query.order[1:] in ([], [("sys_id", False)]):
            # The incremental poll's shape: ordered by (sys_updated_on, sys_id), served from
            # a sorted index with the sys_updated_on bounds cut by bisection.
            if self._index is None:
                self._index = sorted((row["sys_updated_on"], sys_id) for sys_id, row in rows.items())
            low, high = 0, len(self._index)
            rest = []
            for term in terms:
                if term.field == "sys_updated_on" and term.op in (">=", ">", "<", "<="):
                    if term.op == ">=":
                        low = max(low, bisect.bisect_left(self._index, (term.value, "")))
                    elif term.op == ">":
                        low = max(low, bisect.bisect_right(self._index, (term.value, "\uffff")))
                    elif term.op == "<":
                        high = min(high, bisect.bisect_left(self._index, (term.value, "")))
                    else:
                        high = min(high, bisect.bisect_right(self._index, (term.value, "\uffff")))
                else:
                    rest.append(term)
            found = [rows[sys_id] for _, sys_id in self._index[low:high]]
            return [row for row in found if all(_matches(self._value(table, row, t.field), t) for t in rest)]
        found = [row for row in rows.values() if all(_matches(self._value(table, row, t.field), t) for t in terms)]
        for name, descending in reversed(query.order or [("sys_id", False)]):
            found.sort(key=lambda row, n=name: _sort_key(self._value(table, row, n)), reverse=descending)
        return found

    def _value(self, table: str, row: dict[str, str], name: str) -> str:
        if "." not in name:
            return row.get(name, "")
        head, rest = name.split(".", 1)
        target = REFERENCES.get((table, head))
        referenced = self.tables[target].get(row.get(head, "")) if target else None
        return self._value(target, referenced, rest) if referenced is not None else ""

    def _project(self, table: str, row: dict[str, str], query: dict[str, str], base: str) -> dict:
        wanted = [f.strip() for f in (query.get("sysparm_fields") or "").split(",") if f.strip()]
        names = wanted or sorted(n for n in TABLES[table] if n not in JOURNAL_FIELDS) + sorted(JOURNAL_FIELDS & TABLES[table])
        plain = (query.get("sysparm_exclude_reference_link") or "").lower() == "true"
        result: dict[str, object] = {}
        for name in names:
            if name.split(".", 1)[0] not in TABLES[table]:
                continue  # the real API leaves unknown fields out
            value = "" if name in JOURNAL_FIELDS else self._value(table, row, name)
            target = REFERENCES.get((table, name))
            if target and value and not plain:
                result[name] = {"link": f"{base}/api/now/table/{target}/{value}", "value": value}
            else:
                result[name] = value
        return result


def _sort_key(value: str):
    try:
        return (0, int(value), "")
    except (TypeError, ValueError):
        return (1, 0, value or "")


def _links(url: str, query: dict[str, str], offset: int, limit: int, total: int) -> str:
    def link(at: int, rel: str) -> str:
        return f'<{url}?{urlencode({**query, "sysparm_limit": limit, "sysparm_offset": at})}>;rel="{rel}"'

    last = max(0, ((total - 1) // limit) * limit) if total else 0
    parts = [link(0, "first")]
    if offset > 0:
        parts.append(link(max(0, offset - limit), "prev"))
    if offset + limit < total:
        parts.append(link(offset + limit, "next"))
    parts.append(link(last, "last"))
    return ",".join(parts)


def _error(status: int, message: str, detail: str) -> tuple[int, dict[str, str], object]:
    return status, {}, {"error": {"message": message, "detail": detail}, "status": "failure"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


def _handler(fake: FakeServiceNow):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: with Nagle on, the body would wait for
        # the client's delayed ACK (40 ms a response on Linux), which no real instance adds.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, headers: dict[str, str], body: object) -> None:
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            if parts.path.startswith("/_fake/"):
                self._send(*_control(fake, self.command, parts.path, body))
                return
            seen = Seen(self.command, parts.path, query, dict(self.headers.items()), body)
            if fake.record_requests:
                with fake._lock:
                    fake.requests.append(seen)
            fault = fake._take_fault()
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            if fault is not None and fault.status:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(int(fault.retry_after))
                seen.status = fault.status
                message = "Too Many Requests" if fault.status == 429 else "Service Unavailable"
                self._send(fault.status, headers, {"error": {"message": message, "detail": "injected by the fake"},
                                                   "status": "failure"})
                return
            base = f"http://{self.headers.get('Host') or f'127.0.0.1:{fake.port}'}"
            status, headers, answer = fake.handle_table(self.command, parts.path, query, self.headers, body, base)
            seen.status = status
            self._send(status, headers, answer)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

    return Handler


def _control(fake: FakeServiceNow, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], object]:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return _error(400, "Invalid body", "not JSON")
    try:
        if method == "GET" and path == "/_fake/state":
            return 200, {}, fake.state()
        if method == "POST" and path == "/_fake/reset":
            fake.reset()
            return 200, {}, fake.state()
        if method == "POST" and path == "/_fake/seed":
            data = data or {}
            ids = fake.seed(int(data.get("count", 0)), step_seconds=float(data.get("step_seconds", 1.0)),
                            **(data.get("fields") or {}))
            return 200, {}, {"seeded": len(ids), "first": ids[:1], "last": ids[-1:]}
        if method == "POST" and path == "/_fake/incidents":
            return 201, {}, {"result": fake.create(**(data or {}))}
        if method == "PATCH" and path.startswith("/_fake/incidents/"):
            return 200, {}, {"result": fake.change(path.rsplit("/", 1)[-1], **(data or {}))}
        if method == "POST" and path == "/_fake/change":
            data = data or {}
            count = int(data["count"]) if "count" in data else round(float(data.get("fraction", 0.01))
                                                                        * len(fake.tables["incident"]))
            ids = fake.change_many(count, **(data.get("fields") or {}))
            return 200, {}, {"changed": len(ids)}
        if method == "POST" and path == "/_fake/faults":
            fake.fail_next(*(Fault(status=int(f.get("status", 0)), retry_after=f.get("retry_after"),
                                   delay=float(f.get("delay", 0))) for f in (data or [])))
            return 200, {}, fake.state()
        if method == "POST" and path == "/_fake/requests":
            fake.record_requests = bool((data or {}).get("record", True))
            fake.requests.clear()
            return 200, {}, fake.state()
        if method == "GET" and path.startswith("/_fake/journal/"):
            return 200, {}, {"result": fake.journal(path.rsplit("/", 1)[-1])}
    except KeyError as exc:
        return _error(404, "No Record found", str(exc))
    except (TypeError, ValueError) as exc:
        return _error(400, "Invalid control request", str(exc))
    return _error(404, "Unknown control endpoint", f"{method} {path}")


TRICKLE_TITLES = (
    "Email not syncing on mobile", "Badge reader at the main gate rejects cards", "Cannot print to the 3rd floor",
    "VPN asks for the password again and again", "Teams calls drop after a minute", "Disk almost full on FS01",
    "New starter needs access to the ERP", "Laptop fan very loud", "Wi-Fi slow in meeting room B",
    "Shared mailbox missing in Outlook",
)


def _trickle(fake: FakeServiceNow, seconds: float, limit: int) -> None:
    """The demo's live instance: one new incident every `seconds` (at most `limit`), and
    one earlier incident changed each time."""
    rng = random.Random(7)  # noqa: S311 - demo data, not a secret
    for n in range(limit):
        time.sleep(seconds)
        title = TRICKLE_TITLES[n % len(TRICKLE_TITLES)]
        fake.seed(1, short_description=title, description=f"{title}. Reported by phone.")
        fake.change_many(1, rng=rng)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fakes.servicenow", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback only (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8899, help="0 picks a free port")
    parser.add_argument("--user", default="warden")
    parser.add_argument("--password", default="", help="accept Basic auth with --user and this password")
    parser.add_argument("--token", default="", help="accept Bearer auth with this token")
    parser.add_argument("--seed", type=int, default=0, help="incidents to create at start")
    parser.add_argument("--trickle", type=float, default=0, metavar="SECONDS",
                        help="every SECONDS a new incident arrives and an old one changes, as in a live instance")
    parser.add_argument("--trickle-max", type=int, default=500, metavar="N", help="stop trickling after N incidents")
    parser.add_argument("--lenient", action="store_true",
                        help="drop unknown query terms (matching everything) like a default instance")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("the fake listens on loopback only")
    if not args.password and not args.token:
        args.token = "fake-servicenow-token"
    fake = FakeServiceNow(host=args.host, port=args.port, user=args.user, password=args.password, token=args.token,
                          strict=not args.lenient)
    if args.seed:
        fake.seed(args.seed)
    if args.trickle > 0:
        threading.Thread(target=_trickle, args=(fake, args.trickle, args.trickle_max), daemon=True).start()
    auth = f"Bearer {args.token}" if args.token else f"Basic {args.user}:<password>"
    print(json.dumps({"url": fake.url, "auth": auth, "incidents": args.seed, "strict": fake.strict}), flush=True)
    try:
        fake.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.server.server_close()


if __name__ == "__main__":
    main()
