"""One HTTP request with the standard library: explicit connect and read timeouts, an
overall deadline, a bounded answer, no redirect followed, no proxy, and optionally a
fixed address to connect to (the TLS name check still uses the host name)."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass, field

CHUNK = 64 * 1024


class RequestFailed(Exception):
    """`code`: connect_timeout, read_timeout, tls, network or too_large."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str | None, connect_timeout: float, read_timeout: float):
        super().__init__(host, port, timeout=connect_timeout)
        self._address, self._read_timeout = address, read_timeout

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address or self.host, self.port), self.timeout)
        self.sock.settimeout(self._read_timeout)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str | None, connect_timeout: float, read_timeout: float,
                 context: ssl.SSLContext):
        super().__init__(host, port, timeout=connect_timeout, context=context)
        self._address, self._read_timeout, self._tls = address, read_timeout, context

    def connect(self) -> None:
        sock = socket.create_connection((self._address or self.host, self.port), self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)  # SNI and the name check: the host
        except BaseException:
            sock.close()
            raise
        self.sock.settimeout(self._read_timeout)


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Certificates verified against `ca_bundle`, else the system's store; TLS 1.2+."""
    context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def request(*, scheme: str, host: str, port: int, method: str, path: str, headers: dict[str, str],
            body: bytes | None, connect_timeout: float, read_timeout: float, max_body: int,
            context: ssl.SSLContext | None = None, address: str | None = None) -> Answer:
    """One request; RequestFailed for what went wrong on the way. A 3xx is an answer like
    any other (never followed)."""
    deadline = time.monotonic() + connect_timeout + read_timeout
    if scheme == "https":
        conn: http.client.HTTPConnection = _HTTPSConnection(
            host, port, address=address, connect_timeout=connect_timeout, read_timeout=read_timeout,
            context=context or tls_context(None))
    else:
        conn = _HTTPConnection(host, port, address=address, connect_timeout=connect_timeout, read_timeout=read_timeout)
    try:
        try:
            conn.connect()
        except (TimeoutError, socket.timeout):  # noqa: UP041 - distinct classes on Python 3.9
            raise RequestFailed("connect_timeout", f"connecting to {host}:{port} timed out") from None
        except ssl.SSLError as exc:
            raise RequestFailed("tls", f"TLS with {host}:{port} failed ({_reason(exc)})") from None
        except OSError as exc:
            raise RequestFailed("network", f"cannot connect to {host}:{port} ({_reason(exc)})") from None
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            chunks, size = [], 0
            while True:
                if time.monotonic() > deadline:
                    raise RequestFailed("read_timeout", f"{host}:{port} took too long to answer")
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_body:
                    raise RequestFailed("too_large", f"the answer is larger than {max_body} bytes")
                chunks.append(chunk)
            return Answer(status=response.status, headers=list(response.getheaders()), body=b"".join(chunks))
        except (TimeoutError, socket.timeout):  # noqa: UP041 - distinct classes on Python 3.9
            raise RequestFailed("read_timeout", f"{host}:{port} did not answer in time") from None
        except ssl.SSLError as exc:
            raise RequestFailed("tls", f"TLS with {host}:{port} failed ({_reason(exc)})") from None
        except (OSError, http.client.HTTPException) as exc:
            raise RequestFailed("network", f"the connection to {host}:{port} failed ({_reason(exc)})") from None
    finally:
        conn.close()


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
    return str(reason)[:200]
