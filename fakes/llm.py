"""A fake language-model provider on 127.0.0.1: the OpenAI, Azure OpenAI and Anthropic
APIs triage calls, answering deterministically.

Standard library only (no Django): tests import it, and it runs on its own for demos:

    python -m fakes.llm --port 8030 [--api-key sk-demo]

Endpoints (what the official SDKs send):

* OpenAI chat completions: `POST /v1/chat/completions` (`Authorization: Bearer <key>`);
* Azure OpenAI: `POST /openai/deployments/<deployment>/chat/completions?api-version=...`
  (`api-key: <key>`; 400 without `api-version`);
* Anthropic messages: `POST /v1/messages` (`x-api-key: <key>` or `Authorization: Bearer <key>`).

The answer is a JSON routing read off the prompt: the user message is the JSON triage
sends (`ticket`, `categories`, `teams`); the fake picks the category whose name (or a
word of it, singular) appears in the ticket's text (title, description, current
category, source), e.g. "printer" -> "Hardware / Printers", and the team named by
`team_hints` for a word of the text (default: printer, toner, network -> "Ops"), else
the first team. Token usage (about four characters a token) is in every answer.

Scripting, per test: `rate_limit(times, retry_after)` answers 429 with Retry-After;
`slow(seconds, times)` waits before answering (longer than a client's timeout);
`invalid_json(times)` answers text that is not JSON; `answer(payload, times)` answers
the given object (e.g. one violating the schema); `fail(status, times)` answers a
server error. Every request is recorded (`requests`, `inputs()`), so a test can assert
what a tenant sent. API keys: with `api_keys` given, any other key is 401.

Every wait is bounded: a slow answer waits on the stop event, at most `MAX_DELAY`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY_BYTES = 1024 * 1024
MAX_DELAY = 30.0
DEFAULT_TEAM_HINTS = {"printer": "Ops", "toner": "Ops", "network": "Ops", "vpn": "Ops"}
_AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
_WORD = re.compile(r"[a-z0-9]+")

Answer = tuple[int, dict[str, str], Any]


@dataclass
class Seen:
    api: str  # openai | azure_openai | anthropic | other
    method: str
    path: str
    headers: dict[str, str]
    body: dict
    system: str = ""
    user: str = ""
    deployment: str = ""

    @property
    def input(self) -> dict | None:
        """The user message as JSON (what triage sent), or None."""
        try:
            value = json.loads(self.user)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


@dataclass
class Step:
    kind: str  # rate_limit | slow | invalid_json | answer | fail
    seconds: float = 0.0
    retry_after: int = 1
    payload: Any = None
    status: int = 500


@dataclass
class Pick:
    payload: dict
    matched: list[str] = field(default_factory=list)


def _words(text: str) -> set[str]:
    words = set(_WORD.findall((text or "").lower()))
    return words | {w[:-1] for w in words if len(w) > 3 and w.endswith("s")}


def decide(data: dict | None, *, team_hints: dict[str, str] | None = None) -> Pick:
    """The routing the fake proposes for triage's input `data`. Pure."""
    data = data if isinstance(data, dict) else {}
    ticket = data.get("ticket") if isinstance(data.get("ticket"), dict) else {}
    categories = [c for c in data.get("categories") or [] if isinstance(c, dict) and "id" in c]
    teams = [t for t in data.get("teams") or [] if isinstance(t, dict) and "id" in t]
    text = " ".join(str(ticket.get(key) or "") for key in ("title", "description", "category", "source"))
    words = _words(text)
    category = None
    matched: list[str] = []
    for candidate in sorted(categories, key=lambda c: -len(str(c.get("path") or c.get("name") or ""))):
        name = str(candidate.get("path") or candidate.get("name") or "").split("/")[-1]
        hits = sorted(_words(name) & words)
        if hits:
            category, matched = candidate, hits
            break
    team = None
    hints = DEFAULT_TEAM_HINTS if team_hints is None else team_hints
    for word in sorted(words):
        wanted = hints.get(word)
        team = next((t for t in teams if str(t.get("name", "")).lower() == str(wanted or "").lower()), None)
        if team is not None:
            break
    if team is None and teams:
        team = teams[0]
    urgent = bool(words & {"urgent", "down", "outage", "asap"})
    payload = {
        "category": category["id"] if category else None,
        "team": team["id"] if team else None,
        "impact": 2,
        "urgency": 1 if urgent else 2,
        "work_note": f"Suggested by the fake model ({', '.join(matched)})." if matched else "",
        "confidence": 0.86 if category else 0.35,
        "rationale": (f"The ticket mentions {', '.join(matched)}." if matched
                      else "Nothing in the ticket points to a category."),
    }
    return Pick(payload=payload, matched=matched)


def _tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


class FakeLLM:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, api_keys: tuple[str, ...] = (),
                 team_hints: dict[str, str] | None = None) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the fake LLM listens on a loopback address only")
        self.api_keys = tuple(api_keys)
        self.team_hints = team_hints
        self.requests: list[Seen] = []
        self._script: list[Step] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "FakeLLM/1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._answer((413, {}, {"error": {"message": "Request too large"}}))
                    return
                body = self.rfile.read(length) if length else b""
                self._answer(fake.handle(self.command, self.path, dict(self.headers.items()), body))

            def _answer(self, answer: Answer) -> None:
                status, headers, payload = answer
                if isinstance(payload, bytes | str):
                    data = payload.encode() if isinstance(payload, str) else payload
                else:
                    data = b"" if payload is None else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _handle  # noqa: N815

        self.server = _Server((host, port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-llm", daemon=True)

    # -- life --------------------------------------------------------------------------

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes slow answers
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------

    def _add(self, step: Step, times: int) -> None:
        with self._lock:
            self._script.extend(Step(**vars(step)) for _ in range(max(0, times)))

    def rate_limit(self, times: int = 1, *, retry_after: int = 7) -> None:
        self._add(Step("rate_limit", retry_after=retry_after), times)

    def slow(self, seconds: float, times: int = 1) -> None:
        self._add(Step("slow", seconds=min(float(seconds), MAX_DELAY)), times)

    def invalid_json(self, times: int = 1) -> None:
        self._add(Step("invalid_json"), times)

    def answer(self, payload: Any, times: int = 1) -> None:
        self._add(Step("answer", payload=payload), times)

    def fail(self, status: int = 500, times: int = 1) -> None:
        self._add(Step("fail", status=status), times)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    def inputs(self) -> list[dict | None]:
        """What triage sent in each request (the user message as JSON)."""
        return [seen.input for seen in self.requests]

    # -- handling ----------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(raw_path)
        lowered = {key.lower(): value for key, value in headers.items()}
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        azure = _AZURE_PATH.match(parts.path)
        if method == "POST" and parts.path == "/v1/chat/completions":
            api, key = "openai", lowered.get("authorization", "").removeprefix("Bearer ").strip()
        elif method == "POST" and azure:
            api, key = "azure_openai", lowered.get("api-key", "").strip()
        elif method == "POST" and parts.path == "/v1/messages":
            api = "anthropic"  # x-api-key; newer SDKs send the key as a bearer token
            key = (lowered.get("x-api-key") or lowered.get("authorization", "").removeprefix("Bearer ")).strip()
        else:
            return 404, {}, {"error": {"message": f"no route for {method} {parts.path}"}}
        system, user = _messages(api, data)
        seen = Seen(api=api, method=method, path=parts.path, headers=lowered, body=data, system=system, user=user,
                    deployment=azure.group(1) if azure else "")
        with self._lock:
            self.requests.append(seen)
            step = self._script.pop(0) if self._script else None
        if api == "azure_openai" and not parse_qs(parts.query).get("api-version"):
            return _error(api, 400, "invalid_request_error", "api-version is required")
        if not key or (self.api_keys and key not in self.api_keys):
            return _error(api, 401, "authentication_error", "Incorrect API key provided")
        model = seen.deployment or str(data.get("model") or "")
        if step is not None and step.kind == "rate_limit":
            answer = _error(api, 429, "rate_limit_error", "Rate limit reached, slow down")
            return answer[0], {"Retry-After": str(step.retry_after)}, answer[2]
        if step is not None and step.kind == "fail":
            return _error(api, step.status, "api_error", "The server had an error")
        if step is not None and step.kind == "slow":
            self._stopping.wait(timeout=step.seconds)
        if step is not None and step.kind == "invalid_json":
            text = "Sure! The category is probably Printers, and the team Ops."
        elif step is not None and step.kind == "answer":
            text = step.payload if isinstance(step.payload, str) else json.dumps(step.payload)
        else:
            text = json.dumps(decide(seen.input, team_hints=self.team_hints).payload)
        return 200, {}, _completion(api, model, text, input_tokens=_tokens(system + user), output_tokens=_tokens(text))


def _messages(api: str, data: dict) -> tuple[str, str]:
    def text_of(content) -> str:
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        return ""

    messages = [m for m in data.get("messages") or [] if isinstance(m, dict)]
    if api == "anthropic":
        system = text_of(data.get("system"))
    else:
        system = "".join(text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    users = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    return system, users[-1] if users else ""


def _error(api: str, status: int, kind: str, message: str) -> Answer:
    if api == "anthropic":
        return status, {}, {"type": "error", "error": {"type": kind, "message": message}}
    return status, {}, {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def _completion(api: str, model: str, text: str, *, input_tokens: int, output_tokens: int) -> dict:
    if api == "anthropic":
        return {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                      "total_tokens": input_tokens + output_tokens}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes.llm", description="A fake LLM provider on 127.0.0.1.")
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8030)
    parser.add_argument("--api-key", action="append", default=[], help="the only key accepted (repeatable; "
                                                                       "default: any non-empty key)")
    args = parser.parse_args(argv)
    try:
        fake = FakeLLM(host=args.host, port=args.port, api_keys=tuple(args.api_key))
    except ValueError as exc:
        parser.error(str(exc))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    fake.start()
    print(json.dumps({"url": fake.url, "openai_base_url": f"{fake.url}/v1", "azure_endpoint": fake.url,
                      "anthropic_base_url": fake.url}), flush=True)
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
