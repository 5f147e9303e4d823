"""Refusing oversized uploads before they are stored, not after they arrived.

`check_upload` measures a file once Django has parsed the request, so without a guard a
client could make the server receive and write to disk a body of any size only to be
told it was too large. `UploadSizeLimitHandler` (first of FILE_UPLOAD_HANDLERS) stops an
API upload:

* before reading anything, when the declared Content-Length exceeds what one allowed file
  can need (`upload_request_limit()`: WARDEN_ATTACHMENT_MAX_BYTES plus room for the
  multipart framing and the small form fields sent with it);
* while streaming, as soon as one file part passes WARDEN_ATTACHMENT_MAX_BYTES (a body
  within the request limit can still carry a file a little too big). The partial file
  the next handlers were writing is removed.

Both raise `UploadRejected("too_large")`: 413 problem details with `errors.file`. The
guard covers requests under /api/ only; the HTML forms (portal, desk) read their files
themselves and report each refused file next to the form.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.errors import ApplicationError

from .policy import UploadRejected, format_size, max_upload_bytes, safe_filename

# Boundaries, part headers and the small fields that go with a file (visibility, comment).
MULTIPART_MARGIN = 64 * 1024
GUARDED_PREFIX = "/api/"


def upload_request_limit() -> int:
    """The largest request body that can carry one allowed file."""
    return max_upload_bytes() + MULTIPART_MARGIN


class LengthRequired(ApplicationError):
    """411: an upload must say how long it is (Django reads no body without Content-Length)."""

    status = 411
    title = gettext_lazy("Length required")


def too_large_request(content_length: int) -> UploadRejected:
    return UploadRejected(
        "too_large",
        _("The upload is %(size)s; files are limited to %(limit)s.")
        % {"size": format_size(content_length, round_up=True), "limit": format_size(max_upload_bytes())},
    )


class UploadSizeLimitHandler(FileUploadHandler):
    """Passes every chunk on to the next handlers unchanged, counting; see the module docstring."""

    def _guarded(self) -> bool:
        return self.request is not None and self.request.path.startswith(GUARDED_PREFIX)

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if self._guarded() and content_length > upload_request_limit():
            raise too_large_request(content_length)
        return None  # the parsing itself is left to Django

    def receive_data_chunk(self, raw_data, start):
        if self._guarded() and start + len(raw_data) > max_upload_bytes():
            self._discard_partial_file()
            name = safe_filename(self.file_name or "")
            raise UploadRejected(
                "too_large", _("“%(name)s” is larger than %(limit)s, the limit.")
                % {"name": name, "limit": format_size(max_upload_bytes())}
            )
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler makes the file

    def _discard_partial_file(self) -> None:
        """The handlers after this one have a partial file (a temporary file on disk for
        anything over FILE_UPLOAD_MAX_MEMORY_SIZE): remove it now, not when collected."""
        for handler in getattr(self.request, "upload_handlers", ()):
            if handler is not self:
                handler.upload_interrupted()
