"""The tickets app's use of the upload safety layer (`apps.core.files`), in one place.

`inspect()` runs, in this order, the gate (name, size, sniffed type against the
allow-list), the malware scanner and the SHA-256; it raises UploadRejected before
anything is stored. Tokens are bound to the current tenant schema.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO

from django.db import connection
from django.utils.translation import gettext as _

from apps.core import files
from apps.core.errors import NotFound
from apps.core.files import TokenExpired, UploadRejected  # noqa: F401  (re-exported for the service)

__all__ = [
    "INFECTED", "UNSCANNED", "Inspected", "TokenExpired", "UploadRejected", "digest", "display_name", "inspect",
    "make_token", "read_token", "rescan",
]


@dataclass(frozen=True)
class Inspected:
    filename: str  # safe, extension matching the content
    mime: str
    size: int
    sha256: str
    clean: bool  # False: the scanner could not answer -> store quarantined
    scan_detail: str


def _measure(fileobj: IO[bytes]) -> int:
    size = getattr(fileobj, "size", None)
    if isinstance(size, int):
        return size
    position = fileobj.tell()
    fileobj.seek(0, os.SEEK_END)
    size = fileobj.tell()
    fileobj.seek(position)
    return size


def inspect(*, fileobj: IO[bytes], filename: str, size: int | None = None) -> Inspected:
    measured = _measure(fileobj)
    head = files.read_head(fileobj)
    accepted = files.check_upload(filename=filename, size=measured, head=head, fileobj=fileobj)
    verdict = files.scan_file(fileobj)
    if verdict.status == files.ScanStatus.INFECTED:
        raise UploadRejected(
            "infected",
            _("“%(name)s” contains malware (%(signature)s) and was refused.")
            % {"name": accepted.filename, "signature": verdict.signature},
        )
    return Inspected(
        filename=accepted.filename,
        mime=accepted.mime,
        size=measured,
        sha256=files.sha256(fileobj),
        clean=verdict.status == files.ScanStatus.CLEAN,
        scan_detail=(verdict.reason or "")[:200],
    )


UNSCANNED = files.ScanStatus.UNSCANNED
INFECTED = files.ScanStatus.INFECTED


def rescan(fileobj: IO[bytes]) -> files.ScanVerdict:
    return files.scan_file(fileobj)


def display_name(filename: str) -> str:
    return files.safe_filename(filename)


def make_token(*, attachment_id: int, user_id: int, ttl_seconds: int) -> str:
    return files.make_download_token(
        schema=connection.schema_name, attachment_id=attachment_id, user_id=user_id, ttl_seconds=ttl_seconds
    )


def read_token(token: str) -> files.DownloadGrant:
    """The grant of a token made in this tenant; NotFound for anything forged or foreign,
    TokenExpired (403) for an expired one."""
    try:
        return files.read_download_token(token, schema=connection.schema_name)
    except files.TokenInvalid:
        raise NotFound(_("This download link is not valid.")) from None


def digest(fileobj: IO[bytes]) -> str:
    return files.sha256(fileobj)
