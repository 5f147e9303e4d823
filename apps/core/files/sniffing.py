"""What a file really is, decided from its first bytes: never from the client's Content-Type.

`sniff_type(head, filename)` looks at the magic bytes (and, for ZIP archives, at the
names of the members) and returns a `SniffResult`. The filename is consulted only to say
whether its extension fits what the content turned out to be, and, among text formats
(which have no magic bytes), to choose between text/plain, text/csv and JSON.

Pure functions, no ORM, no settings: `policy.check_upload` applies the allow-list.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import struct
import zipfile
from dataclasses import dataclass
from typing import IO

from django.utils.translation import gettext_noop

# How much of the start of a file `sniff_type` wants to see. Less works for every format
# but ZIP (member names are read from the local headers) and JSON (parsed when complete).
HEAD_BYTES = 64 * 1024

OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class FileType:
    mime: str
    label: str  # reads after "looks like": "a PNG image" (gettext_noop: translated where shown)
    extensions: tuple[str, ...] = ()  # lower case without the dot; the first is the canonical one
    dangerous: bool = False  # refused whatever the allow-list says


@dataclass(frozen=True)
class SniffResult:
    mime: str
    label: str
    extension_ok: bool  # the filename's extension is one this type is known by
    dangerous: bool = False
    extensions: tuple[str, ...] = ()
    charset: str | None = None  # text only: "utf-8" or "utf-16"
    detail: str = ""  # extra words for messages, e.g. the interpreter of a script

    @property
    def extension(self) -> str:
        """The canonical extension without the dot ("" for types that have none)."""
        return self.extensions[0] if self.extensions else ""


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOCM = "application/vnd.ms-word.document.macroEnabled.12"
XLSM = "application/vnd.ms-excel.sheet.macroEnabled.12"
PPTM = "application/vnd.ms-powerpoint.presentation.macroEnabled.12"


def _table(*types: FileType, key: str | None = None) -> dict[str, FileType]:
    return {key or t.mime: t for t in types}


# Every type this module can name, by an internal key (the MIME type, but for SVG with script).
TYPES: dict[str, FileType] = {
    **_table(
        FileType("image/png", gettext_noop("a PNG image"), ("png",)),
        FileType("image/jpeg", gettext_noop("a JPEG image"), ("jpg", "jpeg", "jpe", "jfif")),
        FileType("image/gif", gettext_noop("a GIF image"), ("gif",)),
        FileType("image/webp", gettext_noop("a WebP image"), ("webp",)),
        FileType("application/pdf", gettext_noop("a PDF document"), ("pdf",)),
        FileType(DOCX, gettext_noop("a Word document"), ("docx",)),
        FileType(XLSX, gettext_noop("an Excel workbook"), ("xlsx",)),
        FileType(PPTX, gettext_noop("a PowerPoint presentation"), ("pptx",)),
        FileType(DOCM, gettext_noop("a macro-enabled Word document"), ("docm",)),
        FileType(XLSM, gettext_noop("a macro-enabled Excel workbook"), ("xlsm",)),
        FileType(PPTM, gettext_noop("a macro-enabled PowerPoint presentation"), ("pptm",)),
        FileType("application/zip", gettext_noop("a ZIP archive"), ("zip",)),
        FileType(
            "application/x-ole-storage", gettext_noop("a legacy Office or Windows Installer file"), ("doc", "xls", "ppt", "msi")
        ),
        FileType("text/plain", gettext_noop("a text file"), ("txt", "log", "text", "md")),
        FileType("text/csv", gettext_noop("a CSV file"), ("csv",)),
        FileType("application/json", gettext_noop("a JSON file"), ("json",)),
        FileType("image/svg+xml", gettext_noop("an SVG image"), ("svg",)),
        FileType("application/x-empty", gettext_noop("an empty file")),
        FileType(OCTET_STREAM, gettext_noop("a file of an unrecognised type")),
    ),
    # Refused whatever the allow-list says.
    **_table(
        FileType("image/svg+xml", gettext_noop("an SVG image with embedded script"), ("svg",), dangerous=True), key="svg-script"
    ),
    **_table(
        FileType("text/html", gettext_noop("an HTML document"), ("html", "htm"), dangerous=True),
        FileType("application/x-dosexec", gettext_noop("a Windows executable"), ("exe", "dll"), dangerous=True),
        FileType("application/x-executable", gettext_noop("a Linux executable (ELF)"), dangerous=True),
        FileType("application/x-mach-binary", gettext_noop("a macOS executable"), dangerous=True),
        FileType("application/java-vm", gettext_noop("a Java class file"), ("class",), dangerous=True),
        FileType("application/java-archive", gettext_noop("a Java archive"), ("jar",), dangerous=True),
        FileType("application/vnd.android.package-archive", gettext_noop("an Android app"), ("apk",), dangerous=True),
        FileType("application/x-ms-shortcut", gettext_noop("a Windows shortcut"), ("lnk",), dangerous=True),
        FileType("text/x-script", gettext_noop("a script"), dangerous=True),
    ),
}

# Every extension some recognised type is known by: a mismatching one is replaced, not kept.
KNOWN_EXTENSIONS = frozenset(ext for t in TYPES.values() for ext in t.extensions)

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
LNK = b"L\x00\x00\x00\x01\x14\x02\x00"
MACHO = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")

OOXML = {"word/": (DOCX, DOCM), "xl/": (XLSX, XLSM), "ppt/": (PPTX, PPTM)}  # top folder -> (plain, with macros)

# Tags that make a text an HTML document when it starts with one (after the prolog),
# after the WHATWG MIME sniffing algorithm, plus a few more that carry script or forms.
HTML_TAGS = frozenset(
    ["html", "head", "body", "script", "iframe", "frameset", "frame", "h1", "div", "font", "table", "a", "style",
     "title", "b", "br", "p", "meta", "link", "form", "img", "object", "embed", "base", "template"]
)
SVG_SCRIPT = re.compile(
    r"<script|<foreignobject|<iframe|<embed|<object|<handler|javascript:|data:text/html|\bon[a-z]+\s*=",
    re.IGNORECASE,
)
TEXT_SUBTYPES = {"csv": "text/csv", "json": "application/json", "txt": "text/plain", "log": "text/plain",
                 "text": "text/plain", "md": "text/plain"}


def extension_of(filename: str) -> str:
    """The lower-case extension without the dot; "" when there is none ("README", ".bashrc")."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    return ext.lower() if dot and stem.strip(". ") else ""


def _result(key: str, filename: str, *, charset: str | None = None, detail: str = "") -> SniffResult:
    t = TYPES[key]
    ext = extension_of(filename)
    return SniffResult(
        mime=t.mime,
        label=t.label,
        extension_ok=bool(t.extensions) and ext in t.extensions,
        dangerous=t.dangerous,
        extensions=t.extensions,
        charset=charset,
        detail=detail,
    )


def sniff_type(head: bytes, filename: str, *, fileobj: IO[bytes] | None = None) -> SniffResult:
    """Classify a file from its first bytes (`HEAD_BYTES` of them, or all of a smaller file).

    `fileobj`, when given and seekable, is used only for ZIP archives: their member names
    are then read from the central directory at the end of the file instead of from the
    local headers found in `head`. Its position is put back where it was.
    """
    head = bytes(head)
    if not head:
        return _result("application/x-empty", filename)
    if head.startswith(PNG):
        return _result("image/png", filename)
    if head.startswith(JPEG):
        return _result("image/jpeg", filename)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _result("image/gif", filename)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _result("image/webp", filename)
    if head.startswith(b"%PDF-"):
        return _result("application/pdf", filename)
    if head.startswith(ZIP_SIGNATURES):
        return _result(_zip_kind(head, fileobj), filename)
    if head.startswith(OLE2):
        return _result("application/x-ole-storage", filename)
    if head.startswith(b"\x7fELF"):
        return _result("application/x-executable", filename)
    if head[:4] in MACHO:
        return _result("application/x-mach-binary", filename)
    if head.startswith(b"\xca\xfe\xba\xbe"):
        # Mach-O universal binaries and Java classes share this magic; a class file has
        # its major version (45 and up) where a universal binary counts its few architectures.
        count = struct.unpack(">I", head[4:8])[0] if len(head) >= 8 else 0
        return _result("application/java-vm" if count >= 45 else "application/x-mach-binary", filename)
    if head.startswith(LNK):
        return _result("application/x-ms-shortcut", filename)

    decoded = _decode_text(head)
    if head.startswith(b"MZ") and decoded is None:
        # A DOS/PE header is full of NUL bytes; a text that happens to start with "MZ" is not.
        return _result("application/x-dosexec", filename)
    if decoded is None:
        return _result(OCTET_STREAM, filename)
    text, charset = decoded
    stripped = text.lstrip("\ufeff")
    if stripped.startswith("#!"):
        interpreter = stripped[2:].split("\n", 1)[0].strip()
        interpreter = "".join(c for c in interpreter if c.isprintable())[:60]
        return _result("text/x-script", filename, detail=f"#!{interpreter}")
    markup = _markup_kind(stripped)
    if markup == "html":
        return _result("text/html", filename)
    if markup == "svg":
        return _result("svg-script" if SVG_SCRIPT.search(stripped) else "image/svg+xml", filename, charset=charset)
    return _result(_text_subtype(stripped, filename), filename, charset=charset)


def _decode_text(head: bytes) -> tuple[str, str] | None:
    """The head as text if it is UTF-8 (or UTF-16 with a byte order mark) without NUL characters.

    The head may end inside a multi-byte character, so the decoder is told more may follow.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        charset, codec = "utf-16", "utf-16"
    else:
        charset, codec = "utf-8", "utf-8"
        if b"\x00" in head:
            return None
    try:
        text = codecs.getincrementaldecoder(codec)(errors="strict").decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    return text, charset


def _markup_kind(text: str) -> str | None:
    """ "html" or "svg" when the text is a document of that kind (judged by its first tag)."""
    rest = text.lstrip()
    for _ in range(50):  # an XML prolog, comments, a doctype: then the first real tag
        lowered = rest[:20].lower()
        if lowered.startswith("<?"):
            closing = "?>"
        elif lowered.startswith("<!--"):
            closing = "-->"
        elif lowered.startswith("<!doctype"):
            closing = ">"
            doctype = rest[9:200].lstrip().lower()
            if doctype.startswith("svg"):
                return "svg"
            if doctype.startswith("html"):
                return "html"
        else:
            break
        end = rest.find(closing)
        if end < 0:
            return None
        rest = rest[end + len(closing) :].lstrip()
    match = re.match(r"<([A-Za-z][\w.:-]*)", rest)
    if not match:
        return None
    name = match.group(1).lower()
    if name == "svg" or name.endswith(":svg"):
        return "svg"
    if name in HTML_TAGS or name.split(":")[-1] == "html":
        return "html"
    return None


def _text_subtype(text: str, filename: str) -> str:
    """Text has no magic bytes: the extension picks the subtype when the content agrees."""
    ext = extension_of(filename)
    starts_like_json = text.lstrip()[:1] in ("{", "[")
    if ext == "json" and starts_like_json:
        return "application/json"
    if ext in TEXT_SUBTYPES and ext != "json":
        return TEXT_SUBTYPES[ext]
    if starts_like_json:
        try:
            if isinstance(json.loads(text), dict | list):
                return "application/json"
        except ValueError:  # not JSON, or a head cut short
            pass
    return "text/plain"


def _zip_kind(head: bytes, fileobj: IO[bytes] | None) -> str:
    names = _zip_names_from_file(fileobj) if fileobj is not None else None
    if names is None:
        names = _zip_names_from_bytes(head)
    members = set(names)
    if "META-INF/MANIFEST.MF" in members and any(n.endswith(".class") for n in names):
        return "application/java-archive"
    if "AndroidManifest.xml" in members and "classes.dex" in members:
        return "application/vnd.android.package-archive"
    if "[Content_Types].xml" in members:
        for folder, (plain, macro) in OOXML.items():
            if any(n.startswith(folder) for n in names):
                return macro if f"{folder}vbaProject.bin" in members else plain
    return "application/zip"


def _zip_names_from_file(fileobj: IO[bytes]) -> list[str] | None:
    """Member names from the central directory, or None when it can't be read."""
    try:
        position = fileobj.tell()
    except (AttributeError, OSError, ValueError):
        return None
    try:
        fileobj.seek(0)
        with zipfile.ZipFile(fileobj) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return None
    finally:
        fileobj.seek(position)


def _zip_names_from_bytes(head: bytes, limit: int = 2000) -> list[str]:
    """Member names of a ZIP archive from its start.

    A whole small archive is read through its central directory. Otherwise the local file
    headers in the head are walked; one whose sizes are deferred to a data descriptor is
    skipped by looking for the next header signature.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(head)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        pass
    names: list[str] = []
    offset = 0
    while len(names) < limit and offset + 30 <= len(head) and head[offset : offset + 4] == b"PK\x03\x04":
        flags, compressed, name_len, extra_len = struct.unpack("<6xH10xI4xHH", head[offset : offset + 30])
        raw = head[offset + 30 : offset + 30 + name_len]
        names.append(raw.decode("utf-8" if flags & 0x800 else "cp437", errors="replace"))
        following = offset + 30 + name_len + extra_len
        if flags & 0x08 and compressed == 0:
            following = head.find(b"PK\x03\x04", following)
            if following < 0:
                break
        else:
            following += compressed
        offset = following
    return names
