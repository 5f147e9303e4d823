"""Malware scanning behind one small interface, failing closed.

A scanner returns a `ScanResult` or raises `ScannerUnavailable` when it could not give a
verdict (clamd down, timed out, refused the stream). `scan_file` turns those into the three
outcomes the attachment service acts on: clean (serve), infected (refuse), unscanned
(quarantine, rescan later). Nothing here touches the ORM.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .streams import CHUNK_BYTES, iter_chunks

logger = logging.getLogger(__name__)

DEFAULT_SCANNER = "apps.core.files.EicarScanner"
DEFAULT_CLAMD = {"host": "127.0.0.1", "port": 3310, "timeout": 30.0}
MAX_REPLY_BYTES = 4096

# The EICAR anti-virus test file (https://www.eicar.org/download-anti-malware-testfile/):
# harmless, and flagged by every scanner. Kept as bytes here so tests need no fixture file.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Eicar-Test-Signature"


class ScannerUnavailable(Exception):
    """No verdict: the scanner could not be reached, timed out or failed. Quarantine the file."""


@dataclass(frozen=True)
class ScanResult:
    clean: bool
    signature: str | None = None  # what was found, when not clean
    scanner: str = ""


@runtime_checkable
class Scanner(Protocol):
    def scan(self, fileobj: IO[bytes]) -> ScanResult: ...


class EicarScanner:
    """The default: flags the EICAR test string anywhere in the content, nothing else.

    It proves the scanning path end to end (upload the test file, see it refused) where no
    ClamAV runs: development, CI, small installs. It is not protection.
    """

    name = "eicar"

    def scan(self, fileobj: IO[bytes]) -> ScanResult:
        overlap = len(EICAR) - 1
        carried = b""
        with contextlib.closing(iter_chunks(fileobj)) as chunks:
            for chunk in chunks:
                window = carried + chunk
                if EICAR in window:
                    return ScanResult(clean=False, signature=EICAR_SIGNATURE, scanner=self.name)
                carried = window[-overlap:]
        return ScanResult(clean=True, scanner=self.name)


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def arm(self, sock: socket.socket) -> None:
        """Give the next socket operation what is left of the overall time, or give up."""
        left = self.ends - time.monotonic()
        if left <= 0:
            raise ScannerUnavailable(f"clamd did not answer within {self.seconds:g} s")
        sock.settimeout(left)


class ClamdScanner:
    """ClamAV's daemon over its INSTREAM protocol, on TCP or a UNIX socket.

    Settings: WARDEN_CLAMD = {"host": "127.0.0.1", "port": 3310, "timeout": 30} or
    {"socket": "/run/clamav/clamd.ctl", "timeout": 30}. The timeout bounds the whole
    exchange (connect, upload, verdict), not each read.
    """

    name = "clamd"

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        socket_path: str | None = None,
        timeout: float | None = None,
        chunk_size: int = CHUNK_BYTES,
    ):
        config = {**DEFAULT_CLAMD, **(getattr(settings, "WARDEN_CLAMD", None) or {})}
        if socket_path is None and host is None and port is None:
            socket_path = config.get("socket") or None
        self.socket_path = socket_path
        self.host = host or config["host"]
        self.port = int(port or config["port"])
        self.timeout = float(timeout if timeout is not None else config["timeout"])
        self.chunk_size = chunk_size
        if self.timeout <= 0:
            raise ImproperlyConfigured("WARDEN_CLAMD timeout must be positive")

    @property
    def address(self) -> str:
        return f"unix:{self.socket_path}" if self.socket_path else f"{self.host}:{self.port}"

    def scan(self, fileobj: IO[bytes]) -> ScanResult:
        deadline = _Deadline(self.timeout)
        with self._connect(deadline) as sock:
            try:
                self._send(sock, b"zINSTREAM\0", deadline)
                with contextlib.closing(iter_chunks(fileobj, self.chunk_size)) as chunks:
                    for chunk in chunks:
                        self._send(sock, struct.pack("!I", len(chunk)) + chunk, deadline)
                self._send(sock, struct.pack("!I", 0), deadline)
            except (BrokenPipeError, ConnectionResetError):
                # clamd hangs up mid-stream past its StreamMaxLength, after saying why:
                # read that reply below; no reply is itself an error.
                pass
            reply = self._receive(sock, deadline)
        return self._verdict(reply)

    def ping(self) -> None:
        """For readiness checks: raises ScannerUnavailable unless clamd answers PONG."""
        deadline = _Deadline(self.timeout)
        with self._connect(deadline) as sock:
            try:
                self._send(sock, b"zPING\0", deadline)
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise ScannerUnavailable(f"lost clamd at {self.address}: {exc}") from exc
            reply = self._receive(sock, deadline)
        if reply != "PONG":
            raise ScannerUnavailable(f"clamd at {self.address} answered {reply!r} to PING")

    def _connect(self, deadline: _Deadline) -> socket.socket:
        try:
            if self.socket_path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    deadline.arm(sock)
                    sock.connect(self.socket_path)
                except BaseException:
                    sock.close()
                    raise
                return sock
            return socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise ScannerUnavailable(f"cannot reach clamd at {self.address}: {exc}") from exc

    def _send(self, sock: socket.socket, data: bytes, deadline: _Deadline) -> None:
        deadline.arm(sock)
        try:
            sock.sendall(data)
        except TimeoutError as exc:
            raise ScannerUnavailable(f"clamd at {self.address} timed out reading the file") from exc
        except (BrokenPipeError, ConnectionResetError):
            raise
        except OSError as exc:
            raise ScannerUnavailable(f"lost clamd at {self.address}: {exc}") from exc

    def _receive(self, sock: socket.socket, deadline: _Deadline) -> str:
        data = b""
        while b"\0" not in data and len(data) < MAX_REPLY_BYTES:
            deadline.arm(sock)
            try:
                part = sock.recv(MAX_REPLY_BYTES - len(data))
            except TimeoutError as exc:
                raise ScannerUnavailable(f"clamd at {self.address} gave no verdict within {self.timeout:g} s") from exc
            except OSError as exc:
                raise ScannerUnavailable(f"lost clamd at {self.address}: {exc}") from exc
            if not part:
                break
            data += part
        return data.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()

    def _verdict(self, reply: str) -> ScanResult:
        body = reply.removeprefix("stream:").strip()
        if body == "OK":
            return ScanResult(clean=True, scanner=self.name)
        if body.endswith(" FOUND") and body[: -len(" FOUND")].strip():
            return ScanResult(clean=False, signature=body[: -len(" FOUND")].strip(), scanner=self.name)
        if not reply:
            raise ScannerUnavailable(f"clamd at {self.address} closed the connection without a verdict")
        raise ScannerUnavailable(f"clamd at {self.address} answered {reply[:200]!r}")


def get_scanner() -> Scanner:
    """The scanner named by WARDEN_ATTACHMENT_SCANNER (a dotted path), EicarScanner by default."""
    path = getattr(settings, "WARDEN_ATTACHMENT_SCANNER", None) or DEFAULT_SCANNER
    try:
        factory = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"WARDEN_ATTACHMENT_SCANNER: cannot import {path!r}") from exc
    scanner = factory()
    if not isinstance(scanner, Scanner):
        raise ImproperlyConfigured(f"WARDEN_ATTACHMENT_SCANNER: {path!r} has no scan(fileobj) method")
    return scanner


class ScanStatus(StrEnum):
    CLEAN = "clean"  # serve it
    INFECTED = "infected"  # never serve it
    UNSCANNED = "unscanned"  # quarantine: no verdict yet, scan again later


@dataclass(frozen=True)
class ScanVerdict:
    status: ScanStatus
    signature: str | None = None
    reason: str = ""  # why there is no verdict, for the log and the admin, not for requesters


def scan_file(fileobj: IO[bytes], *, scanner: Scanner | None = None) -> ScanVerdict:
    """Scan and fail closed: any failure of the scanner gives UNSCANNED, never CLEAN."""
    scanner = scanner if scanner is not None else get_scanner()
    try:
        result = scanner.scan(fileobj)
    except ScannerUnavailable as exc:
        logger.warning("attachment scan unavailable: %s", exc)
        return ScanVerdict(ScanStatus.UNSCANNED, reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - a broken custom scanner must not let a file through
        logger.exception("attachment scanner %s failed", type(scanner).__name__)
        return ScanVerdict(ScanStatus.UNSCANNED, reason=f"{type(exc).__name__}: {exc}")
    if result.clean:
        return ScanVerdict(ScanStatus.CLEAN)
    return ScanVerdict(ScanStatus.INFECTED, signature=result.signature or "unnamed")
