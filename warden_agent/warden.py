"""Talking to Warden: the two endpoints of the agent API, JSON over HTTPS, the agent's
token as `Authorization: Bearer`, its version as `Warden-Agent-Version`."""

from __future__ import annotations

import json

from . import VERSION, http
from .config import Config

POLL_PATH = "/api/v1/connectors/agent/poll/"
RESULTS_PATH = "/api/v1/connectors/agent/results/"
MAX_ANSWER = 32 * 1024 * 1024


class WardenError(Exception):
    pass


class Unauthorized(WardenError):
    """401: the token is unknown or revoked. Retrying cannot help."""


class WardenClient:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.context = http.tls_context(config.ca_bundle) if config.scheme == "https" else None

    def _post(self, path: str, payload: dict, *, read_timeout: float) -> dict:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = {
            "Authorization": f"Bearer {self.config.token}",
            "Warden-Agent-Version": VERSION,
            "User-Agent": f"warden-agent/{VERSION}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        try:
            answer = http.request(scheme=self.config.scheme, host=self.config.host, port=self.config.port,
                                  method="POST", path=path, headers=headers, body=body, connect_timeout=10.0,
                                  read_timeout=read_timeout, max_body=MAX_ANSWER, context=self.context,
                                  address=self.config.connect_address)
        except http.RequestFailed as exc:
            raise WardenError(f"Warden at {self.config.url}: {exc.message}") from None
        if answer.status == 401:
            raise Unauthorized("Warden refused the agent's token (unknown or revoked): register the agent again "
                               "and replace the token file")
        if answer.status != 200:
            raise WardenError(f"Warden answered {answer.status} to {path}: {_detail(answer.body)}")
        try:
            data = json.loads(answer.body)
        except ValueError:
            raise WardenError(f"Warden's answer to {path} is not JSON") from None
        if not isinstance(data, dict):
            raise WardenError(f"Warden's answer to {path} is not a JSON object")
        return data

    def poll(self, *, wait: int, max_calls: int) -> list[dict]:
        data = self._post(POLL_PATH, {"wait": wait, "max": max_calls}, read_timeout=wait + 15.0)
        calls = data.get("calls")
        if not isinstance(calls, list):
            raise WardenError("Warden's poll answer has no list of calls")
        return [c for c in calls if isinstance(c, dict)]

    def results(self, results: list[dict]) -> dict:
        return self._post(RESULTS_PATH, {"results": results}, read_timeout=30.0)


def _detail(body: bytes) -> str:
    try:
        data = json.loads(body)
        return str(data.get("detail") or data)[:200]
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")
