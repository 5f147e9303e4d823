"""Reading uploaded files in bounded chunks: a Django `File` or any binary file-like object.

Every helper reads from the start and leaves a seekable file at the start again, so they
can be called one after another on the same upload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import IO

from .sniffing import HEAD_BYTES

CHUNK_BYTES = 64 * 1024


def rewind(fileobj) -> None:
    """Seek to the start when the object can; a pipe or socket stream is left as it is."""
    seekable = getattr(fileobj, "seekable", None)
    try:
        if seekable is None or seekable():
            fileobj.seek(0)
    except (AttributeError, OSError, ValueError):
        pass


def iter_chunks(fileobj: IO[bytes], chunk_size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The whole content, from the start, in chunks of at most `chunk_size` bytes."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    rewind(fileobj)
    try:
        while True:
            chunk = fileobj.read(chunk_size)
            if not chunk:
                return
            if isinstance(chunk, str):
                raise TypeError("open the file in binary mode")
            yield chunk
    finally:
        rewind(fileobj)


def read_head(fileobj: IO[bytes], size: int = HEAD_BYTES) -> bytes:
    """The first `size` bytes (fewer for a smaller file), for `sniff_type` and `check_upload`."""
    rewind(fileobj)
    parts: list[bytes] = []
    wanted = size
    while wanted > 0:
        chunk = fileobj.read(wanted)
        if not chunk:
            break
        parts.append(chunk)
        wanted -= len(chunk)
    rewind(fileobj)
    return b"".join(parts)


def sha256(fileobj: IO[bytes], *, chunk_size: int = CHUNK_BYTES) -> str:
    """Hex SHA-256 of the whole content, read in chunks (a 10 MB upload never sits in memory)."""
    digest = hashlib.sha256()
    for chunk in iter_chunks(fileobj, chunk_size):
        digest.update(chunk)
    return digest.hexdigest()
