"""Socket Mode: Slack delivers the clicks over a WebSocket that Warden opens (outbound
only: no public URL needed). slack-sdk's builtin `SocketModeClient` connects with the
tenant's app-level token (`apps.connections.open` gives the wss:// address), pings, and
reconnects when Slack asks or the connection goes quiet.

Each envelope is acknowledged at once, in the client's listener thread, before any work
(Slack wants the acknowledgement within 3 s and redelivers otherwise); an interactive
payload is then queued for the runner's own thread, which handles it exactly as the HTTP
hook does (`services.interaction_receive`), once per envelope id: a redelivered envelope
keeps its id and finds the first one recorded. Every loop is bounded: the queue (an
envelope that finds it full is logged and dropped, Slack having been acknowledged), the
wait for an envelope (`POLL_SECONDS`, so a stop is seen at once), and the run itself
(`max_seconds`, `max_envelopes`, or `stop()` from SIGTERM).

The trade-off of acknowledging first: an envelope acknowledged when the process dies
before handling it is lost (Slack does not redeliver it); the person sees the card
unchanged and clicks again. Handling before acknowledging would risk Slack's 3 s limit
and redeliveries whenever a decision waits on a lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin.client import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from apps.notifications import conf

from . import services

logger = logging.getLogger(__name__)

QUEUE_SIZE = 1000
POLL_SECONDS = 0.5


class SocketRunner:
    def __init__(self, *, app_token: str, ping_interval: float = 10, between: Callable[[], None] | None = None
                 ) -> None:
        self._app_token = app_token
        self._ping_interval = ping_interval
        self._between = between  # e.g. close_old_connections, between two envelopes
        self.envelopes: queue.Queue[tuple[str, dict]] = queue.Queue(maxsize=QUEUE_SIZE)
        self.stopping = threading.Event()
        self.acknowledged = 0
        self.handled = 0
        self.client: SocketModeClient | None = None

    def stop(self) -> None:
        self.stopping.set()

    def _on_request(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        """In the client's thread: acknowledge first, then hand over; no database here."""
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        self.acknowledged += 1
        if request.type != "interactive" or not isinstance(request.payload, dict):
            return  # events_api, slash_commands: acknowledged, not acted on
        try:
            self.envelopes.put_nowait((str(request.envelope_id), request.payload))
        except queue.Full:
            logger.error("slack socket: %s envelopes waiting; envelope dropped", QUEUE_SIZE)

    def run(self, *, max_seconds: float | None = None, max_envelopes: int | None = None) -> int:
        """Connect, handle envelopes until stopped or a bound is reached; returns how many
        interactive envelopes were handled. Call inside the tenant's context."""
        web = WebClient(base_url=conf.get("WARDEN_SLACK_API_URL"), timeout=10)
        client = SocketModeClient(app_token=self._app_token, web_client=web, ping_interval=self._ping_interval,
                                  auto_reconnect_enabled=True)
        client.socket_mode_request_listeners.append(self._on_request)
        self.client = client
        deadline = time.monotonic() + max_seconds if max_seconds is not None else None
        try:
            client.connect()
            while not self.stopping.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if max_envelopes is not None and self.handled >= max_envelopes:
                    break
                try:
                    envelope_id, payload = self.envelopes.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    continue
                self.handle(envelope_id, payload)
        finally:
            client.close()
        return self.handled

    def handle(self, envelope_id: str, payload: dict) -> services.InteractionResult | None:
        if self._between is not None:
            self._between()
        try:
            result = services.interaction_receive(key=services.interaction_key_socket(envelope_id), source="socket",
                                                  payload=payload)
        except Exception:  # one bad envelope must not stop the others
            logger.exception("slack socket: envelope %s failed", envelope_id[:40])
            return None
        finally:
            self.handled += 1
        logger.info("slack socket: envelope %s %s", envelope_id[:40], result.outcome)
        return result
