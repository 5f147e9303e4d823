"""Uploads are checked, scanned and hashed before anything is stored; downloads go through
signed, short-lived links, are audited, and never serve quarantined or altered bytes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError
from apps.core.files import EICAR, ScannerUnavailable, ScanResult
from apps.policies.services import PolicyDenied
from apps.tickets import services
from apps.tickets.models import TicketAttachment

PE_HEADER = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00"
EXE = PE_HEADER + b"\x00" * 64 + b"PE\x00\x00" + b"\x00" * 256


def files_on_disk(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def post_file(client, number, name, content, **extra):
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    return client.post(f"/api/v1/tickets/{number}/attachments/", {"file": upload, **extra}, format="multipart")


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


@pytest.fixture
def png_bytes():
    return PNG


def test_upload_then_download_through_a_signed_link(ticket, api_as, requester_user, agent_user, settings):
    from apps.tickets import uploads

    png = PNG
    client = api_as(requester_user)
    created = post_file(client, ticket.number, "Screen shot.JPG", png)  # a PNG named .JPG is renamed
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["file_name"] == "Screen shot.png"
    assert body["content_type"] == "image/png"
    assert body["size"] == len(png)
    assert body["scan_status"] == "clean"
    assert body["visibility"] == "public"
    stored = TicketAttachment.objects.get(pk=body["id"])
    assert "Screen" not in stored.file.name  # the user's name never reaches the disk
    assert len(files_on_disk(settings)) == 1

    link = client.get(f"/api/v1/tickets/{ticket.number}/attachments/{body['id']}/download/")
    assert link.status_code == 200
    url, expires_at = link.json()["url"], link.json()["expires_at"]
    assert url.startswith("http://alpha.localhost/api/v1/attachments/download/")
    assert expires_at
    response = client.get(url.removeprefix("http://alpha.localhost"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == png
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="Screen shot.png"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    event = AuditEvent.objects.filter(action="attachment.downloaded").latest("seq")
    assert event.actor_id == requester_user.pk
    assert event.target_id == str(stored.pk)
    assert AuditEvent.objects.filter(action="attachment.link_issued", target_id=str(stored.pk)).exists()

    # The link is for the requester only: the agent holding it gets nothing.
    token = url.rstrip("/").rsplit("/", 1)[-1]
    assert api_as(agent_user).get(f"/api/v1/attachments/download/{token}/").status_code == 404
    # A forged token is 404.
    assert client.get(f"/api/v1/attachments/download/{token[:-2]}xx/").status_code == 404
    # An expired one is refused with a message saying so.
    with mock.patch("time.time", return_value=time.time() + 3600):
        expired = client.get(f"/api/v1/attachments/download/{token}/")
    assert expired.status_code == 403
    assert "expired" in expired.json()["detail"]
    assert uploads.read_token(token).attachment_id == stored.pk


REFUSALS = [
    ("oversized", "big.png", None, 413, "limit"),
    ("executable named .png", "invoice.png", EXE, 415, "Windows executable"),
    ("EICAR test file", "eicar.txt", EICAR, 400, "malware"),
    ("HTML", "page.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", 415, "HTML"),
    ("empty", "empty.png", b"", 400, "empty"),
]


@pytest.mark.parametrize(("label", "name", "content", "status", "fragment"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_uploads_store_nothing(label, name, content, status, fragment, ticket, api_as, requester_user,
                                       settings, png_bytes):
    settings.WARDEN_ATTACHMENT_MAX_BYTES = 4096
    if content is None:
        content = png_bytes + (b"\x00" * 5000 if label == "oversized" else b"")
    response = post_file(api_as(requester_user), ticket.number, name, content)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert fragment.lower() in problem["errors"]["file"][0].lower(), problem
    assert not TicketAttachment.objects.exists()
    assert files_on_disk(settings) == []
    rejected = AuditEvent.objects.filter(action="attachment.rejected").latest("seq")
    assert rejected.actor_id == requester_user.pk


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [("x.txt", EICAR, "malware"), ("bad\x1bname.png", PNG, "control"), ("../../etc/passwd.png", PNG, "..")],
)
def test_service_refusal_leaves_nothing(ticket, requester_user, settings, name, content, fragment):
    import io

    with pytest.raises(ApplicationError) as info:
        services.attachment_add(actor=requester_user, ticket=ticket, fileobj=io.BytesIO(content), filename=name)
    assert fragment in info.value.errors["file"][0]
    assert not TicketAttachment.objects.exists()
    assert files_on_disk(settings) == []


class DownScanner:
    def scan(self, fileobj) -> ScanResult:
        raise ScannerUnavailable("clamd is down")


def test_unscannable_files_are_quarantined_and_never_downloadable(ticket, api_as, requester_user, settings, png_bytes):
    settings.WARDEN_ATTACHMENT_SCANNER = f"{__name__}.DownScanner"
    client = api_as(requester_user)
    created = post_file(client, ticket.number, "shot.png", png_bytes)
    assert created.status_code == 201
    assert created.json()["scan_status"] == "quarantined"
    attachment = TicketAttachment.objects.get()
    assert len(files_on_disk(settings)) == 1  # stored, for a later rescan
    link = client.get(f"/api/v1/tickets/{ticket.number}/attachments/{attachment.pk}/download/")
    assert link.status_code == 409
    assert "quarantined" in link.json()["detail"]
    from apps.tickets import uploads

    token = uploads.make_token(attachment_id=attachment.pk, user_id=requester_user.pk, ttl_seconds=60)
    assert client.get(f"/api/v1/attachments/download/{token}/").status_code == 409
    assert AuditEvent.objects.filter(action="attachment.quarantined").exists()


def test_rescan_releases_or_destroys_a_quarantined_file(ticket, api_as, requester_user, agent_user, settings,
                                                       png_bytes):
    import io

    settings.WARDEN_ATTACHMENT_SCANNER = f"{__name__}.DownScanner"
    held = services.attachment_add(actor=requester_user, ticket=ticket, fileobj=io.BytesIO(png_bytes), filename="a.png")
    bad = services.attachment_add(actor=requester_user, ticket=ticket, fileobj=io.BytesIO(png_bytes), filename="b.png")
    assert held.scan_status == bad.scan_status == "quarantined"
    assert services.attachment_rescan(actor=agent_user, attachment=held).scan_status == "quarantined"  # still down
    settings.WARDEN_ATTACHMENT_SCANNER = "apps.core.files.EicarScanner"
    assert services.attachment_rescan(actor=agent_user, attachment=held).scan_status == "clean"
    link = api_as(requester_user).get(f"/api/v1/tickets/{ticket.number}/attachments/{held.pk}/download/")
    assert link.status_code == 200
    with open(bad.file.path, "r+b") as handle:
        handle.write(EICAR)
    result = services.attachment_rescan(actor=agent_user, attachment=bad)
    assert result.scan_status == "quarantined"
    assert result.scan_detail == "infected: Eicar-Test-Signature"
    assert AuditEvent.objects.filter(action="attachment.rescanned", target_id=str(bad.pk)).exists()
    with pytest.raises(PolicyDenied):
        services.attachment_rescan(actor=requester_user, attachment=bad)


def test_altered_bytes_are_refused_and_audited(ticket, api_as, requester_user, png_bytes):
    client = api_as(requester_user)
    created = post_file(client, ticket.number, "shot.png", png_bytes).json()
    attachment = TicketAttachment.objects.get(pk=created["id"])
    with open(attachment.file.path, "r+b") as handle:
        handle.seek(20)
        handle.write(b"\xff")
    url = client.get(f"/api/v1/tickets/{ticket.number}/attachments/{attachment.pk}/download/").json()["url"]
    response = client.get(url.removeprefix("http://alpha.localhost"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/problem+json")
    assert "checksum" in response.json()["detail"]
    event = AuditEvent.objects.filter(action="attachment.integrity_failed").latest("seq")
    assert event.payload_data["problem"] == "sha256_mismatch"
    assert not AuditEvent.objects.filter(action="attachment.downloaded", target_id=str(attachment.pk)).exists()
    os.remove(attachment.file.path)
    response = client.get(url.removeprefix("http://alpha.localhost"))
    assert response.status_code == 500


def test_attachment_on_an_internal_comment_is_internal(ticket, agent_user, png_file):
    note = services.comment_add(actor=agent_user, ticket=ticket, body="see log", internal=True)
    attachment = services.attachment_add(actor=agent_user, ticket=ticket, fileobj=png_file(), filename="log.png",
                                         comment=note)
    assert attachment.visibility == "internal"


# --- Size guards before anything is stored (apps.core.files.limits) ------------------------


def _multipart(name: str, content: bytes) -> tuple[bytes, str]:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    return encode_multipart(BOUNDARY, {"file": SimpleUploadedFile(name, content, content_type="image/png")}), \
        MULTIPART_CONTENT


def _nothing_kept(settings, temp_dir: Path | None = None) -> None:
    assert not TicketAttachment.objects.exists()
    assert files_on_disk(settings) == []
    if temp_dir is not None:
        assert list(temp_dir.iterdir()) == []


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "idempotency-key"])
def test_an_oversized_content_length_is_refused_before_the_body_is_read(ticket, api_as, requester_user, settings,
                                                                         keyed):
    """The body sent is small, the declared length huge: reading past the body would fail
    the test client (FakePayload), so a 413 proves nothing was read."""
    settings.WARDEN_ATTACHMENT_MAX_BYTES = 4096
    body, content_type = _multipart("big.png", PNG)
    extra = {"HTTP_IDEMPOTENCY_KEY": "big-upload-1"} if keyed else {}
    response = api_as(requester_user).generic(
        "POST", f"/api/v1/tickets/{ticket.number}/attachments/", body, content_type,
        CONTENT_LENGTH=str(50 * 1024 * 1024), **extra,
    )
    assert response.status_code == 413, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert "limited to 4 KB" in problem["errors"]["file"][0], problem
    _nothing_kept(settings)


def test_a_file_over_the_limit_stops_streaming_and_leaves_no_temporary_file(ticket, api_as, requester_user, settings,
                                                                             tmp_path):
    temp_dir = tmp_path / "upload-tmp"
    temp_dir.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(temp_dir)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # parts over 1 KB go to a temporary file
    settings.WARDEN_ATTACHMENT_MAX_BYTES = 150_000
    content = PNG + b"\x00" * 300_000  # within the request limit (max + 64 KB)? no: the file alone is too big
    body, content_type = _multipart("huge.png", content[: 150_000 + 40_000])
    assert len(body) < 150_000 + 64 * 1024  # passes the Content-Length check; the stream guard stops it
    response = api_as(requester_user).generic("POST", f"/api/v1/tickets/{ticket.number}/attachments/", body,
                                              content_type)
    assert response.status_code == 413, response.content
    assert "“huge.png” is larger than" in response.json()["errors"]["file"][0]
    _nothing_kept(settings, temp_dir)
    rejected = AuditEvent.objects.filter(action="attachment.rejected").latest("seq")
    assert rejected.payload_data["code"] == "too_large"


def test_a_file_within_the_limit_still_goes_through_a_temporary_file(ticket, api_as, requester_user, settings,
                                                                      tmp_path):
    temp_dir = tmp_path / "upload-tmp"
    temp_dir.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(temp_dir)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.WARDEN_ATTACHMENT_MAX_BYTES = 150_000
    body, content_type = _multipart("fine.png", PNG + b"\x00" * 100_000)
    response = api_as(requester_user).generic("POST", f"/api/v1/tickets/{ticket.number}/attachments/", body,
                                              content_type)
    assert response.status_code == 201, response.content
    assert response.json()["size"] == len(PNG) + 100_000
    assert len(files_on_disk(settings)) == 1


def test_a_chunked_upload_without_content_length_is_411(ticket, api_as, requester_user, settings):
    body, content_type = _multipart("c.png", PNG)
    response = api_as(requester_user).generic(
        "POST", f"/api/v1/tickets/{ticket.number}/attachments/", body, content_type,
        CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked",
    )
    assert response.status_code == 411, response.content
    assert "Content-Length" in response.json()["errors"]["file"][0]
    _nothing_kept(settings)


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "idempotency-key"])
def test_an_oversized_json_body_is_413_not_500(api_as, requester_user, settings, keyed):
    import json

    from apps.tickets.models import Ticket

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    extra = {"HTTP_IDEMPOTENCY_KEY": "big-json-1"} if keyed else {}
    response = api_as(requester_user).post(
        "/api/v1/tickets/", json.dumps({"title": "Big", "description": "y" * 5000}), content_type="application/json",
        **extra,
    )
    assert response.status_code == 413, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert not Ticket.objects.filter(title="Big").exists()


# --- Bytes never outlive a transaction that did not commit ---------------------------------


@pytest.mark.slow
def test_a_failing_commit_leaves_no_stored_file(fresh_tenant, settings, png_bytes):
    """A deferred constraint trigger refuses the attachment row at COMMIT: the row is gone
    with the transaction, and the bytes written before it are deleted too."""
    from django.db import DatabaseError, connection

    from apps.accounts.models import User

    admin = User.objects.get(email=f"admin@{fresh_tenant.slug}.test")
    ticket = services.ticket_create(actor=admin, title="Commit fails")
    table = connection.ops.quote_name(TicketAttachment._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
        )
        cursor.execute(
            f"CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()"
        )
    upload = SimpleUploadedFile("late.png", png_bytes, content_type="image/png")
    with pytest.raises(DatabaseError, match="refused at commit"):
        services.attachment_add(actor=admin, ticket=ticket, fileobj=upload, filename="late.png")
    assert not TicketAttachment.objects.exists()
    assert files_on_disk(settings) == []
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER refuse_at_commit ON {table}")
    stored = services.attachment_add(actor=admin, ticket=ticket, fileobj=upload, filename="late.png")
    assert len(files_on_disk(settings)) == 1
    assert TicketAttachment.objects.get().pk == stored.pk


def test_attachment_add_refuses_to_run_inside_another_transaction(ticket, requester_user, png_file, settings):
    """Its bytes could not be removed if the caller's transaction rolled back later."""
    from django.db import transaction

    # (pytest-django's own transaction around the test is allowed; a caller's is not.)
    with transaction.atomic(), pytest.raises(RuntimeError):
        services.attachment_add(actor=requester_user, ticket=ticket, fileobj=png_file(), filename="x.png")
    assert files_on_disk(settings) == []
