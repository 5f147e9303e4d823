"""Mail kept on disk instead of sent: the local and demo default (`make demo`), so that a
newcomer reads what Warden sends at the platform site's mailbox page (/mail/).

Each message is one RFC 5322 file (`<time>-<id>.eml`) in WARDEN_MAIL_CAPTURE_DIR. Never
used in production: production sends with SMTP (EMAIL_BACKEND, EMAIL_HOST, ...)."""

from __future__ import annotations

import email
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

SUFFIX = ".eml"


def capture_dir() -> Path | None:
    configured = getattr(settings, "WARDEN_MAIL_CAPTURE_DIR", "")
    return Path(configured) if configured else None


class CaptureBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        directory = capture_dir()
        if directory is None:
            return 0
        directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            path = directory / f"{stamp}-{uuid.uuid4().hex[:8]}{SUFFIX}"
            path.write_bytes(message.message().as_bytes(linesep="\r\n"))
            sent += 1
        return sent


@dataclass(frozen=True)
class Captured:
    name: str
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def to(self) -> str:
        return str(self.message.get("To", ""))

    @property
    def date(self) -> str:
        return str(self.message.get("Date", ""))

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        return part.get_content() if part is not None else ""


def captured(limit: int = 200) -> list[Captured]:
    """The newest captured messages first."""
    directory = capture_dir()
    if directory is None or not directory.is_dir():
        return []
    files = sorted(directory.glob(f"*{SUFFIX}"), reverse=True)[:limit]
    return [Captured(path.name, email.message_from_bytes(path.read_bytes(), policy=policy.default)) for path in files]


def captured_one(name: str) -> Captured | None:
    directory = capture_dir()
    if directory is None or "/" in name or not name.endswith(SUFFIX):
        return None
    path = directory / name
    if not path.is_file():
        return None
    return Captured(name, email.message_from_bytes(path.read_bytes(), policy=policy.default))
