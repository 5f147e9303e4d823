"""A fake Slack Socket Mode server on 127.0.0.1: plain RFC 6455 WebSocket over TCP,
standard library only (slack-sdk's builtin client speaks plain ws:// to a port other
than 443).

    with FakeSocketMode() as server:
        fake_slack.socket_url = server.url       # what apps.connections.open answers
        server.wait_connected()
        server.send({"envelope_id": "e1", "type": "interactive", "payload": {...}})
        server.wait_acks(1)                      # the envelope ids the client acknowledged
        server.acks, server.ack_times            # ["e1"], {"e1": seconds after sending}

On connect it sends Slack's `hello`; it answers pings with pongs and a close with a close.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _frame(opcode: int, payload: bytes) -> bytes:
    head = bytes([0x80 | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 65536:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload  # a server's frames are not masked


class _Closed(Exception):
    pass


class _Reader:
    """Bytes from a socket with a timeout (a file object of a socket breaks after one)."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.conn.recv(65536)  # TimeoutError when nothing came
        if not chunk:
            raise _Closed
        self.buffer += chunk

    def readline(self) -> bytes:
        while b"\n" not in self.buffer:
            if len(self.buffer) > 65536:
                raise _Closed
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def exactly(self, size: int, *, started: bool = False) -> bytes:
        while len(self.buffer) < size:
            try:
                self._fill()
            except TimeoutError:
                if not started and not self.buffer:
                    raise
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


class FakeSocketMode:
    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/link/?ticket=test"
        self.connections: list[socket.socket] = []
        self.acks: list[str] = []
        self.ack_times: dict[str, float] = {}
        self.sent_at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    # --- test side ---------------------------------------------------------------------------

    def send(self, envelope: dict) -> None:
        """Send an envelope to every connected client (a redelivery: send it again)."""
        data = _frame(0x1, json.dumps(envelope).encode())
        with self.lock:
            self.sent_at.setdefault(envelope.get("envelope_id", ""), time.monotonic())
            for conn in list(self.connections):
                try:
                    conn.sendall(data)
                except OSError:
                    self.connections.remove(conn)

    def wait_connected(self, timeout: float = 10) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.connections, timeout=timeout):
                raise TimeoutError("no Socket Mode client connected")

    def wait_acks(self, count: int, timeout: float = 10) -> list[str]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.acks) >= count, timeout=timeout):
                raise TimeoutError(f"{len(self.acks)} acknowledgements, {count} expected")
            return list(self.acks)

    # --- server side -------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.5)
        reader = _Reader(conn)
        try:
            if not self._handshake(conn, reader):
                return
            with self.changed:
                self.connections.append(conn)
                self.changed.notify_all()
            conn.sendall(_frame(0x1, json.dumps({"type": "hello", "num_connections": 1,
                                                 "connection_info": {"app_id": "A1"}}).encode()))
            while not self.stopping.is_set():
                try:
                    opcode, payload = self._read_frame(reader)
                except TimeoutError:
                    continue
                if opcode == 0x8:
                    conn.sendall(_frame(0x8, payload[:2]))
                    return
                if opcode == 0x9:
                    conn.sendall(_frame(0xA, payload))
                elif opcode == 0x1:
                    self._on_text(payload)
        except (_Closed, OSError):
            return
        finally:
            with self.changed:
                if conn in self.connections:
                    self.connections.remove(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _handshake(self, conn: socket.socket, reader: _Reader) -> bool:
        deadline = time.monotonic() + 5
        headers: dict[str, str] = {}
        request_line = b""
        while time.monotonic() < deadline:
            try:
                line = reader.readline()
            except TimeoutError:
                continue
            if not line:
                return False
            if not request_line:
                request_line = line
                continue
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key")
        if not request_line.startswith(b"GET ") or not key:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        return True

    @staticmethod
    def _read_frame(reader: _Reader) -> tuple[int, bytes]:
        first, second = reader.exactly(2)  # TimeoutError: nothing came, try again
        opcode, masked, size = first & 0x0F, second & 0x80, second & 0x7F
        if size == 126:
            size = struct.unpack("!H", reader.exactly(2, started=True))[0]
        elif size == 127:
            size = struct.unpack("!Q", reader.exactly(8, started=True))[0]
        mask = reader.exactly(4, started=True) if masked else b"\0\0\0\0"
        payload = reader.exactly(size, started=True) if size else b""
        return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def _on_text(self, payload: bytes) -> None:
        try:
            message = json.loads(payload.decode())
        except ValueError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if envelope_id:
            with self.changed:
                self.acks.append(envelope_id)
                if envelope_id in self.sent_at:
                    self.ack_times.setdefault(envelope_id, time.monotonic() - self.sent_at[envelope_id])
                self.changed.notify_all()

    def __enter__(self) -> FakeSocketMode:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.listener.close()
        with self.lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.close()
        self.thread.join(timeout=2)
