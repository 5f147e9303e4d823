"""The client every connector kind calls through: `ConnectorClient(connector).request(...)`.

One call is, in order:

1. refused at once (nothing sent, no socket) when the connector is disabled, its region
   is not served by this deployment, its circuit is open, it is a write in dry-run mode
   (recorded as `dry_run`, answered with a `CallResult` marked `dry_run`) or a write
   beyond the connector's daily write cap;
2. the secret decrypted for this call only (a secret no key decrypts disables the
   connector, audited, with an event for the admins: no retry loop, no 500s);
3. per attempt: the URL checked and its host resolved by the SSRF guard, then ONE
   request to the validated address (http.py; no redirect followed); for a connector
   routed through a customer agent, the URL checked without resolving (the host is
   internal) and the request queued for the agent instead (agent/transport.py);
4. retried on a network error, a timeout, 429 and 5xx (writes only when they carry an
   idempotency key or the method is idempotent), waiting what Retry-After says or an
   exponential backoff with full jitter; each failed attempt counts towards the
   connector's circuit breaker, which stops the retries when it opens;
5. recorded: one `ConnectorCall`, the tenant's per-day usage counters (every request
   actually sent is metered), the connector's health; a write that finally failed
   becomes a `DeadLetter` an admin can retry.

An answer in 2xx is returned; a redirect raises RedirectRefused; anything >= 400 after
the retries raises CallFailed (with `status_code`, and `retry_after` when the server
asked for a wait longer than WARDEN_CONNECTORS_MAX_RETRY_AFTER).

Call it outside database transactions (from tasks and services' after-commit work): the
records above are written on the connection as it is, and an outer rollback would take
them away. The secret never reaches a log line, an exception, a record or an event.
"""

from __future__ import annotations

import base64
import json as jsonlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import requests
from django.db import connection
from django.utils import timezone

from apps.core import secrets

from . import backoff, breaker, conf, guard, http, selectors
from .agent import transport as agent_transport  # customer agent (docs/decisions/0024-customer-agent.md)
from .choices import IDEMPOTENT_METHODS, WRITE_METHODS, AuthScheme, DeadLetterStatus, Health, Outcome, Status
from .disabling import connector_disable_unreadable
from .models import Connector, ConnectorCall, ConnectorUsage, DeadLetter

logger = logging.getLogger(__name__)

USER_AGENT = "Warden-Connectors/1"
# The health row is rewritten when the health changes, else at most this often.
HEALTH_REFRESH = timedelta(seconds=60)


class ConnectorError(Exception):
    """A call that did not succeed. `code` is stable; `message` is for people (English)."""

    outcome = Outcome.HTTP_ERROR

    def __init__(self, code: str, message: str, *, status_code: int | None = None, retry_after: float | None = None,
                 attempts: int = 0, address: str = "") -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.status_code, self.retry_after = status_code, retry_after
        self.attempts, self.address = attempts, address


class CallRefused(ConnectorError):
    outcome = Outcome.REFUSED


class ConnectorDisabled(ConnectorError):
    outcome = Outcome.DISABLED


class CircuitOpen(ConnectorError):
    outcome = Outcome.CIRCUIT_OPEN


class WriteCapReached(ConnectorError):
    outcome = Outcome.CAP


class RedirectRefused(ConnectorError):
    outcome = Outcome.REDIRECT


class CallFailed(ConnectorError):
    outcome = Outcome.HTTP_ERROR


class NetworkFailed(CallFailed):
    outcome = Outcome.NETWORK


@dataclass
class CallResult:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    address: str = ""
    dry_run: bool = False
    attempts: int = 0

    def json(self) -> Any:
        return jsonlib.loads(self.content or b"null")


def allowed_hosts(connector: Connector) -> list[str]:
    from .registry import KINDS

    hosts = list(KINDS.get(connector.kind).hosts) if connector.kind in KINDS else []
    return hosts + selectors.verified_domain_patterns()


def check_url(url: str, *, hosts: list[str], resolver=None) -> guard.Endpoint:
    """The SSRF guard with the deployment's settings: parse, resolve, check."""
    allow = conf.allow_loopback()
    target = guard.parse(url, allowed_hosts=hosts, allow_loopback=allow)
    return guard.resolve(target, resolver=resolver or conf.resolver(), allow_loopback=allow)


def join_url(base_url: str, path: str) -> str:
    """`path` (absolute, on the connector's host) appended to the base URL's path."""
    if not path.startswith("/") or path.startswith("//") or "://" in path.split("?", 1)[0]:
        raise CallRefused("path", "A connector call takes a path on the connector's host, starting with one /.")
    return base_url.rstrip("/") + path


class ConnectorClient:
    def __init__(self, connector: Connector, *, resolver: guard.Resolver | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: Callable[[], float] = random.random) -> None:
        self.connector = connector
        self.resolver = resolver
        self.sleep = sleep
        self.rng = rng

    # -- the public calls ---------------------------------------------------------------

    def get(self, path: str, **kwargs) -> CallResult:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> CallResult:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> CallResult:
        return self.request("PATCH", path, **kwargs)

    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                headers: dict[str, str] | None = None, idempotency_key: str = "", operation: str = "",
                dead_letter: bool = True) -> CallResult:
        method = method.upper()
        write = method in WRITE_METHODS
        started = time.monotonic()
        connector = self.connector
        try:
            result = self._call(method, path, params=params, json=json, headers=headers or {},
                                idempotency_key=idempotency_key, write=write)
        except ConnectorError as exc:
            self._record(method, path, operation, write=write, outcome=exc.outcome, status_code=exc.status_code,
                         attempts=exc.attempts, started=started, address=exc.address, detail=exc.message)
            if write and dead_letter:
                self._dead_letter(method, path, params, json, idempotency_key, operation, exc)
            raise
        outcome = Outcome.DRY_RUN if result.dry_run else Outcome.OK
        self._record(method, path, operation, write=write, outcome=outcome, status_code=result.status_code or None,
                     attempts=result.attempts, started=started, address=result.address, detail="")
        logger.info("connector %s: %s %s -> %s", connector.name, method, path.split("?", 1)[0],
                    "dry run" if result.dry_run else result.status_code)
        return result

    # -- one call -----------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params, json, headers: dict[str, str], idempotency_key: str,
              write: bool) -> CallResult:
        connector = self.connector
        if connector.status != Status.ACTIVE:
            raise ConnectorDisabled("disabled", f"The connector is disabled: {connector.disabled_reason or 'by an admin'}.")
        region_problem = selectors.region_problem(connector)
        if region_problem:
            raise ConnectorDisabled("region", region_problem)
        url = join_url(connector.base_url, path)
        if write and connector.dry_run:
            guard_endpoint = self._endpoint(url)  # a dry run still proves the URL is acceptable
            return CallResult(status_code=0, dry_run=True, address=guard_endpoint.address)
        if breaker.is_open(connector.pk):
            raise CircuitOpen("circuit_open", "The connector's circuit is open after repeated failures; try later.")
        if write and selectors.writes_today(connector) >= connector.daily_write_cap:
            raise WriteCapReached("cap", f"The daily write cap ({connector.daily_write_cap}) is reached.")
        if agent_transport.is_agent_routed(connector):  # --- customer agent (0024): away or revoked, nothing metered
            try:
                agent_transport.ensure_available(connector)
            except agent_transport.AgentCallError as exc:
                raise (CallRefused if exc.refused else NetworkFailed)(exc.code, exc.message) from None
        auth = self._auth_headers()
        send_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers, **auth}
        if idempotency_key:
            send_headers["Idempotency-Key"] = idempotency_key
        retry_safe = method in IDEMPOTENT_METHODS or bool(idempotency_key)
        max_attempts = max(1, int(conf.get("WARDEN_CONNECTORS_MAX_ATTEMPTS")))
        threshold = int(conf.get("WARDEN_CONNECTORS_BREAKER_FAILURES"))
        cooldown = float(conf.get("WARDEN_CONNECTORS_BREAKER_SECONDS"))
        attempts, address = 0, ""
        failure: ConnectorError | None = None
        for attempt in range(max_attempts):
            if attempt and breaker.is_open(connector.pk):
                raise CircuitOpen("circuit_open", "The circuit opened while retrying: " + (failure.message if failure else ""),
                                  attempts=attempts, address=address)
            endpoint = self._endpoint(url, attempts=attempts)
            address = endpoint.address
            attempts = attempt + 1
            self._meter(calls=1, writes=1 if write else 0)
            retry_after = None
            try:
                if agent_transport.is_agent_routed(connector):  # --- customer agent (0024)
                    response = agent_transport.send(connector, endpoint, method=method, headers=send_headers,
                                                    params=params, json=json, retry_safe=retry_safe)
                else:
                    response = http.send(endpoint, method=method, headers=send_headers, params=params, json=json,
                                         connect_timeout=float(conf.get("WARDEN_CONNECTORS_CONNECT_TIMEOUT")),
                                         read_timeout=float(conf.get("WARDEN_CONNECTORS_READ_TIMEOUT")))
            except agent_transport.AgentCallError as exc:  # --- customer agent (0024): its refusals and absence
                if exc.refused:
                    raise CallRefused(exc.code, exc.message, attempts=attempts, address=address) from None
                failure = NetworkFailed(exc.code, exc.message)
                retryable = exc.retry == "always" or (exc.retry == "if_safe" and retry_safe)
            except requests.ConnectTimeout:
                failure, retryable = NetworkFailed("connect_timeout", "Connecting timed out."), True
            except requests.ReadTimeout:
                failure, retryable = NetworkFailed("read_timeout", "The service did not answer in time."), retry_safe
            except requests.ConnectionError as exc:
                failure, retryable = NetworkFailed("network", f"Network error ({_short(exc)})."), retry_safe
            except requests.RequestException as exc:
                failure, retryable = NetworkFailed("network", f"HTTP error ({type(exc).__name__})."), False
            else:
                status = response.status_code
                if 300 <= status < 400:
                    breaker.record_success(connector.pk)
                    raise RedirectRefused("redirect", f"The service answered {status} (a redirect); redirects are not "
                                          "followed: check the base URL.", status_code=status, attempts=attempts,
                                          address=address)
                if status == 429 or status >= 500:
                    retry_after = backoff.retry_after_seconds(response.headers.get("Retry-After"))
                    failure = CallFailed("http_status", f"The service answered {status}.", status_code=status,
                                         retry_after=retry_after)
                    retryable = status == 429 or retry_safe
                else:
                    breaker.record_success(connector.pk)
                    if status >= 400:
                        raise CallFailed("http_status", f"The service answered {status}.", status_code=status,
                                         attempts=attempts, address=address)
                    return CallResult(status_code=status, headers=dict(response.headers), content=response.content,
                                      address=address, attempts=attempts)
            breaker.record_failure(connector.pk, threshold=threshold, cooldown=cooldown)
            failure.attempts, failure.address = attempts, address
            if not retryable or attempt + 1 >= max_attempts:
                break
            wait = backoff.wait_seconds(attempt, retry_after=retry_after, base=float(conf.get("WARDEN_CONNECTORS_BACKOFF_BASE")),
                                        cap=float(conf.get("WARDEN_CONNECTORS_BACKOFF_CAP")), rng=self.rng)
            if wait > float(conf.get("WARDEN_CONNECTORS_MAX_RETRY_AFTER")):
                failure.retry_after = wait
                break
            self.sleep(wait)
        assert failure is not None
        raise failure

    def _endpoint(self, url: str, *, attempts: int = 0) -> guard.Endpoint:
        try:
            if agent_transport.is_agent_routed(self.connector):  # customer agent (0024): no DNS, internal host
                return agent_transport.check_url(url, hosts=allowed_hosts(self.connector), connector=self.connector)
            return check_url(url, hosts=allowed_hosts(self.connector), resolver=self.resolver)
        except guard.UrlRefused as exc:
            raise CallRefused(exc.code, exc.message, attempts=attempts) from None

    def _auth_headers(self) -> dict[str, str]:
        connector = self.connector
        if connector.auth_scheme == AuthScheme.NONE:
            return {}
        if not connector.secret:
            raise ConnectorDisabled("no_secret", "The connector has no secret set.")
        try:
            secret = secrets.decrypt(connector.secret)
        except secrets.SecretUnreadable:
            connector_disable_unreadable(connector=connector)
            raise ConnectorDisabled("secret_unreadable", "The connector's secret cannot be decrypted with the "
                                    "configured keys; it was disabled: set the secret again.") from None
        if connector.auth_scheme == AuthScheme.BASIC:
            raw = f"{connector.username}:{secret}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
        return {"Authorization": f"Bearer {secret}"}

    # -- records ------------------------------------------------------------------------

    def _meter(self, **counts: int) -> None:
        meter(self.connector, **counts)

    def _record(self, method: str, path: str, operation: str, *, write: bool, outcome: str, status_code: int | None,
                attempts: int, started: float, address: str, detail: str) -> None:
        connector = self.connector
        now = timezone.now()
        ConnectorCall.objects.create(
            connector=connector, at=now, operation=operation[:64], method=method, path=path.split("?", 1)[0][:300],
            write=write, outcome=outcome, status_code=status_code, attempts=attempts,
            duration_ms=int((time.monotonic() - started) * 1000), address=address[:64], detail=detail[:300],
        )
        if outcome in (Outcome.HTTP_ERROR, Outcome.NETWORK, Outcome.CIRCUIT_OPEN, Outcome.REDIRECT):
            self._meter(failures=1)
            health, health_detail = Health.FAILING, detail
        elif outcome in (Outcome.REFUSED, Outcome.CAP, Outcome.DISABLED):
            self._meter(refused=1)
            health, health_detail = (Health.FAILING, detail) if outcome == Outcome.REFUSED else (None, "")
        elif outcome == Outcome.DRY_RUN:
            self._meter(dry_runs=1)
            health, health_detail = None, ""
        else:
            health, health_detail = Health.OK, ""
        if outcome == Outcome.HTTP_ERROR and status_code is not None and status_code < 500 and status_code != 429:
            health, health_detail = Health.OK, ""  # the service answered: it works, this request was wrong
        unchanged = (health == connector.health and health_detail[:300] == connector.health_detail
                     and connector.health_checked_at is not None and now - connector.health_checked_at < HEALTH_REFRESH)
        if health is not None and not unchanged:  # a busy connector's health row is written once a minute
            Connector.objects.filter(pk=connector.pk).update(health=health, health_detail=health_detail[:300],
                                                             health_checked_at=now)
            connector.health, connector.health_detail, connector.health_checked_at = health, health_detail[:300], now

    def _dead_letter(self, method, path, params, json, idempotency_key, operation, exc: ConnectorError) -> None:
        full_path = path
        if params:
            full_path = requests.Request("GET", "https://x" + path, params=params).prepare().path_url
        DeadLetter.objects.create(
            connector=self.connector, operation=operation[:64], method=method, path=full_path[:1000], body=json,
            idempotency_key=idempotency_key[:100], attempts=exc.attempts, last_error=exc.message[:300],
            status=DeadLetterStatus.OPEN,
        )


def meter(connector: Connector, *, calls: int = 0, writes: int = 0, failures: int = 0, refused: int = 0,
          dry_runs: int = 0) -> None:
    """Add to today's usage counters of `connector` (one statement, safe under concurrency)."""
    table = connection.ops.quote_name(ConnectorUsage._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, connector_id, kind, calls, writes, failures, refused, dry_runs) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (day, connector_id) DO UPDATE SET "
            f"calls = {table}.calls + EXCLUDED.calls, writes = {table}.writes + EXCLUDED.writes, "
            f"failures = {table}.failures + EXCLUDED.failures, refused = {table}.refused + EXCLUDED.refused, "
            f"dry_runs = {table}.dry_runs + EXCLUDED.dry_runs",
            [timezone.now().date(), connector.pk, connector.kind, calls, writes, failures,
             refused, dry_runs],
        )


def _short(exc: Exception) -> str:
    text = type(exc).__name__
    reason = getattr(exc, "args", [None])[0]
    inner = getattr(reason, "reason", None)
    if inner is not None:
        text = type(inner).__name__
    return text
