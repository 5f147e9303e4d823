"""Making one call Warden handed out, against an internal host, on the agent's terms:

* the method must be an HTTP method Warden's connectors use, the URL `https://` without
  user-info, its host and port in the agent's allow-list (else `host_not_allowed`,
  nothing is sent);
* Warden's headers go along, except credentials and connection headers; the agent adds
  the credentials it holds for that host (`--credentials`);
* Warden's timeouts apply, never longer than the agent's own limit; redirects are not
  followed (the 3xx goes back as the answer); the answer is bounded in size;
* the result: the status, headers (without Set-Cookie) and body, or an error code.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import time
from urllib.parse import urlsplit

from . import VERSION, http
from .config import Config

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DROPPED = frozenset({"authorization", "proxy-authorization", "cookie", "host", "content-length", "transfer-encoding",
                     "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect"})
MAX_HEADERS = 100


class BadCall(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _target(call: dict, config: Config) -> tuple[str, int, str]:
    method = str(call.get("method", "")).upper()
    if method not in METHODS:
        raise BadCall("bad_call", f"method {method!r} is not one the agent makes")
    try:
        parts = urlsplit(str(call.get("url", "")))
        port = parts.port or 443
    except ValueError:
        raise BadCall("bad_call", "the URL cannot be read") from None
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme != "https":
        raise BadCall("host_not_allowed", "only https:// URLs are called")
    if "@" in parts.netloc or not host:
        raise BadCall("bad_call", "the URL has user-info or no host")
    try:
        ipaddress.ip_address(host)
        raise BadCall("host_not_allowed", "IP addresses are not called, only allowed host names")
    except ValueError:
        pass
    if not config.allow.allows(host, port):
        raise BadCall("host_not_allowed", f"{host}:{port} is not in the agent's allow-list")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return host, port, path


def execute(call: dict, config: Config, *, context=None, log=print) -> dict:
    """The result to post back for `call` (never raises for what the call does)."""
    result: dict = {"id": call.get("id"), "claim": call.get("claim")}
    started = time.monotonic()
    label = f"call {call.get('id')}"
    try:
        host, port, path = _target(call, config)
        label = f"call {call.get('id')} {str(call.get('method')).upper()} {host}{':' + str(port) if port != 443 else ''}" \
                f"{path.split('?', 1)[0]}"
        headers = {str(k): str(v) for k, v in (call.get("headers") or {}).items()
                   if str(k).lower() not in DROPPED and "\n" not in str(v) and "\r" not in str(v)}
        headers.setdefault("User-Agent", f"warden-agent/{VERSION}")
        credential = config.credentials.get(host)
        if credential:
            headers["Authorization"] = credential
        body = None
        if call.get("body") is not None:
            try:
                body = base64.b64decode(call["body"], validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise BadCall("bad_call", "the body is not base64") from None
        connect = _bounded(call.get("connect_timeout"), 10.0, config.max_read_timeout)
        read = _bounded(call.get("read_timeout"), 20.0, config.max_read_timeout)
        answer = http.request(scheme="https", host=host, port=port, method=str(call["method"]).upper(), path=path,
                              headers=headers, body=body, connect_timeout=connect, read_timeout=read,
                              max_body=config.max_body_bytes, context=context, address=config.resolve.get(host))
    except BadCall as exc:
        log(f"{label}: refused: {exc.message}")
        result["error"] = {"code": exc.code, "message": exc.message}
        return result
    except http.RequestFailed as exc:
        log(f"{label}: failed: {exc.message}")
        result["error"] = {"code": exc.code, "message": exc.message}
        return result
    except (AttributeError, TypeError, KeyError, ValueError) as exc:  # a malformed call: refuse it, keep running
        log(f"{label}: refused: malformed call ({type(exc).__name__})")
        result["error"] = {"code": "bad_call", "message": f"malformed call ({type(exc).__name__})"}
        return result
    out_headers: dict[str, str] = {}
    for key, value in answer.headers:
        if key.lower() == "set-cookie" or len(out_headers) >= MAX_HEADERS:
            continue
        out_headers[key] = f"{out_headers[key]}, {value}" if key in out_headers else value
    log(f"{label} -> {answer.status} ({int((time.monotonic() - started) * 1000)} ms)")
    result.update(status=answer.status, headers={k: v[:8000] for k, v in out_headers.items()},
                  body=base64.b64encode(answer.body).decode("ascii"))
    return result


def _bounded(value, default: float, limit: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = default
    return max(0.5, min(number, limit))
