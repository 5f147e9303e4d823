"""The safety layer under attachments: ORM-free, so any app can put files through it.

    head = read_head(upload)                                   # first 64 KB, rewound
    accepted = check_upload(filename=upload.name, size=upload.size, head=head, fileobj=upload)
    digest = sha256(upload)
    verdict = scan_file(upload)                                # CLEAN / INFECTED / UNSCANNED
    token = make_download_token(schema=..., attachment_id=..., user_id=..., ttl_seconds=300)

See docs/attachments.md for the types, limits, scanning and quarantine rules.
"""

from .policy import (
    DEFAULT_ALLOWED,
    DEFAULT_MAX_BYTES,
    AcceptedUpload,
    UploadRejected,
    allowed_upload_types,
    check_upload,
    format_size,
    max_upload_bytes,
    safe_filename,
)
from .scanning import (
    EICAR,
    ClamdScanner,
    EicarScanner,
    Scanner,
    ScannerUnavailable,
    ScanResult,
    ScanStatus,
    ScanVerdict,
    get_scanner,
    scan_file,
)
from .sniffing import HEAD_BYTES, SniffResult, sniff_type
from .streams import iter_chunks, read_head, sha256
from .tokens import (
    DownloadGrant,
    DownloadTokenError,
    TokenExpired,
    TokenInvalid,
    make_download_token,
    read_download_token,
)

__all__ = [
    "DEFAULT_ALLOWED",
    "DEFAULT_MAX_BYTES",
    "EICAR",
    "HEAD_BYTES",
    "AcceptedUpload",
    "ClamdScanner",
    "DownloadGrant",
    "DownloadTokenError",
    "EicarScanner",
    "ScanResult",
    "ScanStatus",
    "ScanVerdict",
    "Scanner",
    "ScannerUnavailable",
    "SniffResult",
    "TokenExpired",
    "TokenInvalid",
    "UploadRejected",
    "allowed_upload_types",
    "check_upload",
    "format_size",
    "get_scanner",
    "iter_chunks",
    "make_download_token",
    "max_upload_bytes",
    "read_download_token",
    "read_head",
    "safe_filename",
    "scan_file",
    "sha256",
    "sniff_type",
]
