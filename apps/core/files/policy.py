"""The upload gate: file name, size and sniffed type against the allow-list, with human messages.

`check_upload` is the one function every upload path calls before anything is stored.
It either returns what to store (`AcceptedUpload`: the cleaned name with an extension
that matches the content, and the sniffed type) or raises `UploadRejected`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from apps.core.errors import ApplicationError

from .sniffing import KNOWN_EXTENSIONS, OCTET_STREAM, TYPES, extension_of, sniff_type

MiB = 1024 * 1024
DEFAULT_MAX_BYTES = 10 * MiB
DEFAULT_ALLOWED: tuple[str, ...] = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "text/plain",
    "text/csv",
    "application/json",
)
MAX_FILENAME_CHARS = 200
MAX_FILENAME_BYTES = 255  # what ext4, APFS and NTFS accept, in UTF-8
FALLBACK_NAME = "file"

# Windows refuses these as a file name, whatever the extension ("con.txt" included).
RESERVED_NAMES = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"{dev}{n}" for dev in ("com", "lpt") for n in [*"123456789", "\u00b9", "\u00b2", "\u00b3"]]
)
# Refused by check_upload and dropped by safe_filename: control characters (NUL, CR, LF,
# DEL, C1), lone surrogates, line separators, and the bidirectional controls that change
# how a name is shown ("invoice\u202egnp.exe" displays as "invoiceexe.png").
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Other invisible format characters (zero-width space, soft hyphen) are only dropped; the
# joiners stay, as Persian words and emoji sequences need them.
_JOINERS = frozenset("\u200c\u200d")


class UploadRejected(ApplicationError):
    """The upload is refused; `message` is written for the person who uploaded it."""

    title = gettext_lazy("Upload rejected")
    STATUS = {"too_large": 413, "type_not_allowed": 415, "dangerous_type": 415}

    def __init__(self, code: str, message: str):
        super().__init__(message, errors={"file": [message]}, status=self.STATUS.get(code, 400))
        self.code = code

    def __repr__(self) -> str:
        return f"UploadRejected({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class AcceptedUpload:
    filename: str  # safe, with the extension of the sniffed type
    mime: str  # what to store and serve as Content-Type
    label: str
    renamed: bool  # the extension was changed or added to match the content


def max_upload_bytes() -> int:
    return int(getattr(settings, "WARDEN_ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def allowed_upload_types() -> frozenset[str]:
    return frozenset(getattr(settings, "WARDEN_ATTACHMENT_ALLOWED_TYPES", DEFAULT_ALLOWED))


def format_size(n: int, *, round_up: bool = False) -> str:
    """ "12.3 MB", "512 KB", "900 bytes": binary units, one decimal, rounded (up if asked)."""
    for unit, scale in (("GB", 1024 * MiB), ("MB", MiB), ("KB", 1024)):
        if n >= scale:
            tenths = n * 10 / scale
            tenths = math.ceil(tenths) if round_up else round(tenths)
            whole, fraction = divmod(int(tenths), 10)
            return f"{whole} {unit}" if fraction == 0 else f"{whole}.{fraction} {unit}"
    return ngettext("%(count)s byte", "%(count)s bytes", n) % {"count": n}


def _is_refused(char: str) -> bool:
    return unicodedata.category(char) in _REFUSED_CATEGORIES or char in _BIDI_CONTROLS


def _clean(name: str) -> str:
    """safe_filename without the fallback: "" when nothing usable is left."""
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    kept = []
    for char in name:
        category = unicodedata.category(char)
        if _is_refused(char) or (category == "Cf" and char not in _JOINERS):
            continue
        kept.append(" " if category == "Zs" else char)
    name = re.sub(r" {2,}", " ", "".join(kept)).strip(" .")
    if not name:
        return ""
    if name.split(".", 1)[0].strip().lower() in RESERVED_NAMES:
        name = f"_{name}"
    return _truncate(name)


def _truncate(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        stem, dot, ext = name, "", ""
    suffix = dot + ext
    budget = MAX_FILENAME_CHARS - len(suffix)
    stem = stem[:budget]
    while stem and len((stem + suffix).encode()) > MAX_FILENAME_BYTES:
        stem = stem[:-1]
    return (stem.rstrip(" .") or FALLBACK_NAME) + suffix


def safe_filename(name: str) -> str:
    """A readable file name that is safe to store and to offer as a download name.

    Keeps only the last path part (of / or \\ separated paths), drops control and invisible
    formatting characters, turns other spacing into plain spaces, strips leading and
    trailing dots and spaces, prefixes Windows device names ("CON.txt" -> "_CON.txt") and
    limits the length to 200 characters (255 UTF-8 bytes), keeping the extension.

    It does not HTML-escape: "<b>.png" stays "<b>.png". Escaping is the template's job and
    the download header is built by Django (`FileResponse`), which quotes it.
    """
    return _clean(str(name or "")) or FALLBACK_NAME


def _check_filename(filename: str) -> str:
    raw = str(filename or "")
    shown = safe_filename(raw)
    if any(_is_refused(char) for char in raw):
        raise UploadRejected(
            "filename_unsafe",
            _("The file name “%(name)s” contains control or invisible characters. Rename the file and try again.")
            % {"name": shown},
        )
    if ".." in re.split(r"[/\\]", raw):
        raise UploadRejected(
            "filename_unsafe",
            _("The file name “%(name)s” contains a relative path (..). Rename the file and try again.") % {"name": shown},
        )
    if not _clean(raw):
        raise UploadRejected("filename_unsafe", _("The file has no usable name. Rename the file and try again."))
    return shown


def _with_extension(name: str, extension: str) -> str:
    """photo.jpg -> photo.png (a known extension is replaced); notes.cfg -> notes.cfg.txt."""
    stem, dot, ext = name.rpartition(".")
    base = stem if dot and stem and ext.lower() in KNOWN_EXTENSIONS else name
    return _truncate(f"{base}.{extension}")


def _allowed_summary(allowed: Collection[str]) -> str:
    labels: list[str] = []
    for known in TYPES.values():
        if known.mime in allowed and not known.dangerous and known.mime != OCTET_STREAM:
            label = re.sub(r"^an? ", "", _(known.label))
            if label not in labels:
                labels.append(label)
    return ", ".join(labels)


def check_upload(
    *,
    filename: str,
    size: int,
    head: bytes,
    allowed_types: Collection[str] | None = None,
    max_bytes: int | None = None,
    strict_extension: bool = False,
    fileobj: IO[bytes] | None = None,
) -> AcceptedUpload:
    """Refuse an upload that must not be stored; say what to store otherwise.

    `head` is the start of the content (`read_head(fileobj)`: 64 KB). `allowed_types` and
    `max_bytes` default to the settings WARDEN_ATTACHMENT_ALLOWED_TYPES and
    WARDEN_ATTACHMENT_MAX_BYTES. Dangerous types (executables, scripts, HTML, SVG with
    script) are refused even if listed. A content/extension mismatch of an allowed type is
    fixed by renaming (photo.jpg holding a PNG is stored as photo.png) unless
    `strict_extension`, which refuses it. `fileobj`, when given, lets ZIP-based Office
    files be recognised from their central directory.

    Raises UploadRejected with code filename_unsafe, empty, too_large, dangerous_type,
    type_not_allowed or extension_mismatch.
    """
    if size < 0:
        raise ValueError("size cannot be negative")
    allowed = allowed_upload_types() if allowed_types is None else frozenset(allowed_types)
    limit = max_upload_bytes() if max_bytes is None else max_bytes

    name = _check_filename(filename)
    if size == 0:
        raise UploadRejected("empty", _("“%(name)s” is empty.") % {"name": name})
    if size > limit:
        shown, allowed_size = format_size(size), format_size(limit)
        if shown == allowed_size:  # 10 MB + 1 byte must not read "is 10 MB; the limit is 10 MB"
            shown = format_size(size, round_up=True)
        raise UploadRejected(
            "too_large",
            _("“%(name)s” is %(size)s; the limit is %(limit)s.") % {"name": name, "size": shown, "limit": allowed_size},
        )

    sniffed = sniff_type(head, name, fileobj=fileobj)
    if sniffed.dangerous:
        what = f"{_(sniffed.label)} ({sniffed.detail})" if sniffed.detail else _(sniffed.label)
        raise UploadRejected(
            "dangerous_type", _("“%(name)s” looks like %(type)s, which is not allowed.") % {"name": name, "type": what}
        )
    if sniffed.mime not in allowed:
        summary = _allowed_summary(allowed)
        hint = " " + _("Allowed: %(types)s.") % {"types": summary} if summary else ""
        if sniffed.mime == OCTET_STREAM:
            message = _("“%(name)s” is not a type of file we recognise, so it is not allowed.") % {"name": name} + hint
        else:
            message = _("“%(name)s” looks like %(type)s, which is not allowed here.") % {
                "name": name, "type": _(sniffed.label)} + hint
        raise UploadRejected("type_not_allowed", message)

    if sniffed.extension_ok or not sniffed.extension:
        return AcceptedUpload(filename=name, mime=sniffed.mime, label=sniffed.label, renamed=False)
    if strict_extension:
        current = extension_of(name)
        values = {"name": name, "type": _(sniffed.label), "current": current, "extension": sniffed.extension}
        if current:
            message = _("“%(name)s” looks like %(type)s, but its name ends in .%(current)s. "
                        "Rename it to .%(extension)s and try again.") % values
        else:
            message = _("“%(name)s” looks like %(type)s, but its name has no extension. "
                        "Rename it to .%(extension)s and try again.") % values
        raise UploadRejected("extension_mismatch", message)
    return AcceptedUpload(
        filename=_with_extension(name, sniffed.extension), mime=sniffed.mime, label=sniffed.label, renamed=True
    )
