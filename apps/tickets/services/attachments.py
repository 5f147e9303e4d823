"""Attachments: checked, scanned and stored uploads, signed and audited downloads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts import permissions
from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from apps.events.services.emit import emit
from apps.policies.services import policy_require

from .. import conf, uploads, workflow
from .. import events as ev
from ..actions import TICKET_UPDATE
from ..choices import ScanStatus, Visibility
from ..errors import IntegrityFailure
from ..models import Ticket, TicketAttachment, TicketComment
from ..selectors import attachment_get_for_download
from .common import TICKET_COMMENT, TICKET_VIEW, lock_ticket, require_user, touch

logger = logging.getLogger(__name__)

# --- Attachments ------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadLink:
    token: str
    expires_at: datetime


def attachment_add(
    *,
    actor,
    ticket: Ticket,
    fileobj: IO[bytes],
    filename: str,
    size: int | None = None,
    visibility: str = Visibility.PUBLIC,
    comment: TicketComment | None = None,
) -> TicketAttachment:
    """Check, scan and store an upload.

    Refused uploads (name, size, type, malware) are not stored at all: no row, no file;
    the refusal is audited and raised as UploadRejected (problem details with `errors`).
    When the scanner cannot answer, the file is stored but quarantined: it is listed,
    never downloadable (fail closed).

    The bytes are stored inside the transaction that writes the row, and removed again if
    that transaction does not commit (a failing write, audit or COMMIT). Django has no
    on-rollback hook, so the transaction must be this function's own: it is durable, and
    calling it inside another transaction is an error (a later rollback of the caller's
    transaction would leave the bytes behind).
    """
    stored: list[tuple[Any, str]] = []  # (storage, name) of the bytes this call wrote
    try:
        return _attachment_store(
            actor=actor, ticket=ticket, fileobj=fileobj, filename=filename, size=size, visibility=visibility,
            comment=comment, stored=stored,
        )
    except BaseException:
        for storage, name in stored:  # their row was not committed: the bytes may not stay either
            storage.delete(name)
        raise


def _attachment_store(*, actor, ticket, fileobj, filename, size, visibility, comment, stored: list) -> TicketAttachment:
    """`attachment_add` in its own transaction; a refusal is committed (its audit event)
    and then raised. Appends to `stored` what it writes to storage."""
    rejection: ApplicationError | None = None
    with transaction.atomic(durable=True):
        policy_require(actor, TICKET_COMMENT, ticket, {"attachment": True, "visibility": visibility})
        uploader = require_user(actor, _("upload files"))
        if visibility not in Visibility.values:
            raise ApplicationError(
                _("Unknown visibility %(visibility)r.") % {"visibility": visibility},
                errors={"visibility": [_("Use public or internal.")]},
            )
        if comment is not None and comment.ticket_id != ticket.pk:
            raise ApplicationError(_("That comment belongs to another ticket."), errors={"comment": [_("Wrong ticket.")]})
        if comment is not None and comment.internal:
            visibility = Visibility.INTERNAL
        if visibility == Visibility.INTERNAL and not permissions.is_agent(uploader):
            raise PermissionDenied(_("Only agents can add internal attachments."))
        ticket = lock_ticket(ticket)
        if ticket.status in workflow.TERMINAL and visibility == Visibility.PUBLIC:
            raise Conflict(_("Ticket #%(number)s is %(status)s; files can no longer be added.")
                           % {"number": ticket.number, "status": workflow.status_word(ticket.status)})
        limit = conf.get("WARDEN_TICKETS_MAX_ATTACHMENTS_PER_TICKET")
        if TicketAttachment.objects.filter(ticket=ticket).count() >= limit:
            raise Conflict(_("Ticket #%(number)s already has %(limit)s attachments, the maximum.")
                           % {"number": ticket.number, "limit": limit},
                           errors={"file": [_("At most %(limit)s attachments per ticket.") % {"limit": limit}]})
        try:
            inspected = uploads.inspect(fileobj=fileobj, filename=filename, size=size)
        except uploads.UploadRejected as exc:
            rejection = exc
            _audit_rejection(uploader, ticket, filename, exc)
        else:
            attachment = TicketAttachment(
                ticket=ticket,
                comment=comment,
                original_name=inspected.filename,
                size=inspected.size,
                content_type=inspected.mime,
                sha256=inspected.sha256,
                visibility=visibility,
                scan_status=ScanStatus.CLEAN if inspected.clean else ScanStatus.QUARANTINED,
                scan_detail=inspected.scan_detail[:200],
                uploaded_by=uploader,
                created_at=timezone.now(),
            )
            # The bytes are written last: any failure before leaves nothing on disk; any
            # failure after (the row, the audit event, the COMMIT) makes the caller delete them.
            attachment.file.save(inspected.filename, fileobj, save=False)
            stored.append((attachment.file.storage, attachment.file.name))
            attachment.save(force_insert=True)
            touch(ticket, [])
            audit_record(
                actor=uploader,
                action="attachment.added" if inspected.clean else "attachment.quarantined",
                target=attachment,
                payload={
                    "number": ticket.number,
                    "file_name": attachment.original_name,
                    "size": attachment.size,
                    "content_type": attachment.content_type,
                    "sha256": attachment.sha256,
                    "visibility": visibility,
                    "scan_status": attachment.scan_status,
                    "scan_detail": attachment.scan_detail,
                },
            )
            emit(
                ev.TicketAttachmentAdded(
                    ticket_id=ticket.pk,
                    attachment_id=attachment.pk,
                    internal=visibility == Visibility.INTERNAL,
                    quarantined=attachment.scan_status != ScanStatus.CLEAN,
                ),
                actor=uploader,
                instances=[ticket],
            )
            return attachment
    # The refusal (and its audit event) is committed; nothing of the file was kept.
    assert rejection is not None
    raise rejection


def _audit_rejection(uploader: User, ticket: Ticket, filename: str, exc: ApplicationError) -> None:
    audit_record(
        actor=uploader,
        action="attachment.rejected",
        target=ticket,
        payload={"number": ticket.number, "file_name": uploads.display_name(filename) if filename else "",
                 "code": getattr(exc, "code", ""), "reason": exc.message},
    )


@transaction.atomic
def attachment_refusal_record(*, actor, ticket: Ticket, refusal: ApplicationError, filename: str = "") -> None:
    """Audit an upload refused before it reached `attachment_add`: the request body was
    refused while it streamed in (too large), so nothing of it was kept. A caller who may
    not add files to the ticket gets that refusal (403) instead."""
    policy_require(actor, TICKET_COMMENT, ticket, {"attachment": True})
    uploader = require_user(actor, _("upload files"))
    _audit_rejection(uploader, ticket, filename, refusal)


@transaction.atomic
def attachment_rescan(*, actor, attachment: TicketAttachment) -> TicketAttachment:
    """Scan a quarantined attachment again (e.g. once ClamAV is back).

    Clean and unaltered: it becomes downloadable. Infected: its bytes are deleted after
    commit and it stays quarantined for good. Still no verdict: nothing changes.
    """
    policy_require(actor, TICKET_UPDATE, attachment.ticket, {"attachment": attachment.pk, "operation": "rescan"})
    # no_key: the joined ticket row is locked too; FOR NO KEY UPDATE, as `_lock` (ADR 0006).
    attachment = TicketAttachment.objects.select_for_update(no_key=True).select_related("ticket").get(pk=attachment.pk)
    if attachment.scan_status == ScanStatus.CLEAN:
        return attachment
    with attachment.file.open("rb") as handle:
        verdict = uploads.rescan(handle)
        unaltered = uploads.digest(handle) == attachment.sha256
    if verdict.status == uploads.UNSCANNED:
        return attachment
    if verdict.status == uploads.INFECTED or not unaltered:
        infected = verdict.status == uploads.INFECTED
        attachment.scan_detail = (f"infected: {verdict.signature}" if infected else "sha256 mismatch")[:200]
        attachment.save(update_fields=["scan_detail"])
        storage, name = attachment.file.storage, attachment.file.name
        transaction.on_commit(lambda: storage.delete(name))
    else:
        attachment.scan_status, attachment.scan_detail = ScanStatus.CLEAN, ""
        attachment.save(update_fields=["scan_status", "scan_detail"])
    audit_record(
        actor=actor,
        action="attachment.rescanned",
        target=attachment,
        payload={"number": attachment.ticket.number, "scan_status": attachment.scan_status,
                 "scan_detail": attachment.scan_detail},
    )
    return attachment


def attachment_download_link(*, actor, attachment: TicketAttachment) -> DownloadLink:
    """A signed, short-lived URL token for one attachment `actor` can see (audited)."""
    with transaction.atomic():
        policy_require(actor, TICKET_VIEW, attachment.ticket, {"attachment": attachment.pk})
        user = require_user(actor, _("download files"))
        if attachment.scan_status != ScanStatus.CLEAN:
            raise Conflict(
                _("“%(name)s” is quarantined: the virus scanner could not check it, so it cannot be downloaded.")
                % {"name": attachment.original_name},
            )
        ttl = int(conf.get("WARDEN_TICKETS_DOWNLOAD_TTL_SECONDS"))
        token = uploads.make_token(attachment_id=attachment.pk, user_id=user.pk, ttl_seconds=ttl)
        expires_at = timezone.now() + timedelta(seconds=ttl)
        audit_record(
            actor=user,
            action="attachment.link_issued",
            target=attachment,
            payload={"number": attachment.ticket.number, "expires_at": expires_at.isoformat()},
        )
    return DownloadLink(token=token, expires_at=expires_at)


def attachment_download(*, actor, token: str) -> tuple[TicketAttachment, IO[bytes]]:
    """The attachment named by a download token and its opened file, checked and audited.

    The token only works for the user it was issued to (`actor`), in its tenant, within
    its lifetime. Invalid, foreign or no longer visible: NotFound (404); expired:
    TokenExpired (403). Quarantined: Conflict (409).
    Bytes whose SHA-256 differs from the recorded one: IntegrityFailure (500), audited,
    never served.
    """
    claims = uploads.read_token(token)
    if getattr(actor, "pk", None) != claims.user_id:
        raise NotFound(_("This download link is not valid."))
    attachment, user = attachment_get_for_download(user_id=claims.user_id, attachment_id=claims.attachment_id)
    with transaction.atomic():
        policy_require(user, TICKET_VIEW, attachment.ticket, {"attachment": attachment.pk})
        if attachment.scan_status != ScanStatus.CLEAN:
            raise Conflict(_("“%(name)s” is quarantined and cannot be downloaded.") % {"name": attachment.original_name})
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, OSError) as exc:
        _audit_integrity(user, attachment, "missing")
        raise IntegrityFailure(_("The stored file is missing; it cannot be served.")) from exc
    digest = uploads.digest(handle)
    if digest != attachment.sha256:
        handle.close()
        _audit_integrity(user, attachment, "sha256_mismatch", found=digest)
        raise IntegrityFailure(_("The stored file does not match its checksum; it will not be served."))
    handle.seek(0)
    with transaction.atomic():
        audit_record(
            actor=user,
            action="attachment.downloaded",
            target=attachment,
            payload={"number": attachment.ticket.number, "file_name": attachment.original_name,
                     "sha256": attachment.sha256, "size": attachment.size},
        )
    return attachment, handle


def _audit_integrity(user, attachment: TicketAttachment, problem: str, **extra) -> None:
    logger.error("attachment %s failed its integrity check: %s", attachment.pk, problem)
    with transaction.atomic():
        audit_record(
            actor=user,
            action="attachment.integrity_failed",
            target=attachment,
            payload={"number": attachment.ticket.number, "problem": problem, "sha256": attachment.sha256, **extra},
        )
