"""A fake Slack Web API on 127.0.0.1 for the tests: real HTTP, the methods Warden calls
(`users.lookupByEmail`, `users.info`, `chat.postMessage`, `chat.update`,
`chat.postEphemeral`, `auth.test`, and `apps.connections.open` with the app-level token,
answering the `socket_url` of a fake Socket Mode server), answers scripted per test.

    with FakeSlack(users={"agent@alpha.test": "U1"}) as slack:
        settings.WARDEN_SLACK_API_URL = slack.url
        ...
        slack.posts  # [(channel, text, blocks, token)]
        slack.updates  # [(channel, ts, text, blocks)]
        slack.ephemerals  # [(channel, user, text)]
        slack.script = [(429, {"Retry-After": "7"}, {"ok": False, "error": "ratelimited"})]  # next answers
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # senders post many at once; the default 5 drops connections
    daemon_threads = True


class FakeSlack:
    def __init__(self, *, users: dict[str, str] | None = None, token: str = "xoxb-test-token",
                 app_token: str = "xapp-test-token", socket_url: str = "") -> None:
        self.users = dict(users or {})  # email -> Slack user id
        self.token = token
        self.app_token = app_token
        self.socket_url = socket_url
        self.posts: list[tuple[str, str, list, str]] = []
        self.updates: list[tuple[str, str, str, list]] = []
        self.ephemerals: list[tuple[str, str, str]] = []
        self.calls: list[str] = []
        self.script: list[tuple[int, dict, dict]] = []  # answers to give first, in order
        self.revoked = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    data = json.loads(raw or "{}")
                else:
                    data = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rstrip("/").rsplit("/", 1)[-1]
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                status, headers, body = fake.answer(method, data, token)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST  # noqa: N815

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, method: str, data: dict, token: str) -> tuple[int, dict, dict]:
        self.calls.append(method)
        if self.script:
            return self.script.pop(0)
        if method == "apps.connections.open":
            if token != self.app_token:
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            return 200, {}, {"ok": True, "url": self.socket_url}
        if self.revoked or token != self.token:
            return 200, {}, {"ok": False, "error": "token_revoked" if self.revoked else "invalid_auth"}
        if method == "auth.test":
            return 200, {}, {"ok": True, "team": "Acme", "user": "warden"}
        if method == "users.lookupByEmail":
            user = self.users.get((data.get("email") or "").lower())
            if user is None:
                return 200, {}, {"ok": False, "error": "users_not_found"}
            return 200, {}, {"ok": True, "user": {"id": user}}
        if method == "users.info":
            emails = {user_id: email for email, user_id in self.users.items()}
            email = emails.get(data.get("user") or "")
            if email is None:
                return 200, {}, {"ok": False, "error": "user_not_found"}
            return 200, {}, {"ok": True, "user": {"id": data.get("user"), "deleted": False,
                                                  "profile": {"email": email}}}
        if method == "chat.update":
            blocks = data.get("blocks") or []
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            self.updates.append((data.get("channel"), data.get("ts"), data.get("text"), blocks))
            return 200, {}, {"ok": True, "channel": data.get("channel"), "ts": data.get("ts")}
        if method == "chat.postEphemeral":
            self.ephemerals.append((data.get("channel"), data.get("user"), data.get("text")))
            return 200, {}, {"ok": True, "message_ts": "9.000"}
        if method == "chat.postMessage":
            blocks = data.get("blocks") or []
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            self.posts.append((data.get("channel"), data.get("text"), blocks, token))
            return 200, {}, {"ok": True, "channel": data.get("channel"), "ts": f"{len(self.posts)}.000"}
        return 200, {}, {"ok": False, "error": "unknown_method"}

    def __enter__(self) -> FakeSlack:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
