"""The agent's loop: long-poll Warden, make each call, post its result, again.

* Errors talking to Warden (network, 5xx) back off: a random wait between half and all
  of min(60, 2**n) seconds; a successful poll resets it. A 401 stops the agent (exit 3):
  the token is unknown or revoked, retrying cannot help.
* A result that cannot be posted is tried three times, then dropped: Warden expires
  the call (or gives it to the next poll when it is safe to send twice).
* SIGTERM or SIGINT: a waiting poll is abandoned at once; a call being made is finished
  and its result posted; then the agent exits 0.
"""

from __future__ import annotations

import random
import signal
import sys
import time
from datetime import datetime, timezone

from . import VERSION, calls, http
from .config import Config
from .warden import Unauthorized, WardenClient, WardenError

EXIT_OK, EXIT_UNEXPECTED, EXIT_CONFIG, EXIT_UNAUTHORIZED = 0, 1, 2, 3
BACKOFF_CAP = 60.0
MIN_POLL_INTERVAL = 1.0


class _Interrupted(Exception):
    pass


def log(message: str) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: UP017 - runs on Python 3.9 too
    print(f"{stamp} warden-agent: {message}", file=sys.stderr, flush=True)


def backoff(failures: int, rng=random.random) -> float:
    ceiling = min(BACKOFF_CAP, 2.0 ** min(failures, 6))
    return ceiling * (0.5 + 0.5 * rng())


class Agent:
    def __init__(self, config: Config, *, warden: WardenClient | None = None, sleep=time.sleep) -> None:
        self.config = config
        self.warden = warden or WardenClient(config)
        self.target_context = http.tls_context(config.target_ca_bundle)
        self.stopping = False
        self.in_poll = False
        self._sleep = sleep

    # -- signals --------------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        self.stopping = True
        if self.in_poll:
            self.in_poll = False
            raise _Interrupted

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def pause(self, seconds: float) -> None:
        """Sleep, waking up early when asked to stop."""
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            self._sleep(min(0.2, max(0.0, end - time.monotonic())))

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        self.install_signals()
        log(f"{VERSION} started: Warden {self.config.url}, allowed hosts {self.config.allow}")
        try:
            code = self._loop()
        except _Interrupted:  # a signal between the poll's end and the flag's reset
            code = EXIT_OK
        if code == EXIT_OK:
            log("stopped")
        return code

    def _loop(self) -> int:
        failures = 0
        while not self.stopping:
            started = time.monotonic()
            try:
                self.in_poll = True
                work = self.warden.poll(wait=self.config.poll_wait, max_calls=self.config.max_calls)
            except _Interrupted:
                break
            except Unauthorized as exc:
                log(str(exc))
                return EXIT_UNAUTHORIZED
            except WardenError as exc:
                failures += 1
                wait = backoff(failures)
                log(f"{exc}; next try in {wait:.1f} s")
                self.pause(wait)
                continue
            finally:
                self.in_poll = False
            if failures:
                log("Warden answers again")
            failures = 0
            for call in work:
                result = calls.execute(call, self.config, context=self.target_context, log=log)
                if not self.post(result):
                    return EXIT_UNAUTHORIZED
            if not work and time.monotonic() - started < MIN_POLL_INTERVAL:
                self.pause(MIN_POLL_INTERVAL)
        return EXIT_OK

    def post(self, result: dict) -> bool:
        """Post one result (three tries); False when the token was refused."""
        for attempt in range(1, 4):
            try:
                answer = self.warden.results([result])
            except Unauthorized as exc:
                log(str(exc))
                return False
            except WardenError as exc:
                if attempt == 3:
                    log(f"call {result.get('id')}: result not delivered ({exc}); Warden will expire it")
                    return True
                self.pause(backoff(attempt) / 4)
                continue
            if result.get("id") in (answer.get("stale") or []):
                log(f"call {result.get('id')}: Warden no longer waits for it (its lease ran out)")
            return True
        return True
