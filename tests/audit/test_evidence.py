"""The evidence pack: complete, verifiable offline by its own verify_pack.py, tamper-evident."""

import io
import json
import os
import subprocess
import sys
import zipfile

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.evidence import evidence_pack_build
from apps.audit.models import AuditEvent

EXPECTED = {
    "manifest.json", "manifest.sig", "README.txt", "residency.json", "deployment.json", "policies/versions.json",
    "policies/decisions.jsonl", "audit/segment.json", "verify_pack.py",
}


def _unzip(data: bytes, into) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(into)
        return {name: archive.read(name) for name in archive.namelist()}


def _run_verifier(folder, *args, key: str | None = None):
    env = {"PATH": os.environ.get("PATH", "")}  # no Django, no project on the path
    if key:
        env["AUDIT_KEY"] = key
    return subprocess.run(  # noqa: S603
        [sys.executable, "-I", str(folder / "verify_pack.py"), str(folder), *args],
        capture_output=True, text=True, env=env, cwd=folder, timeout=60,
    )


def test_pack_contents_and_offline_verification(tenant, admin_user, tmp_path):
    data = evidence_pack_build(tenant=tenant, actor=admin_user)
    files = _unzip(data, tmp_path)
    assert set(files) == EXPECTED
    residency = json.loads(files["residency.json"])
    assert residency["home_region"] == "eu"
    assert residency["deployment_region"] == settings.WARDEN_REGION
    versions = json.loads(files["policies/versions.json"])
    assert any(v["in_force"] for v in versions["versions"])
    segment = json.loads(files["audit/segment.json"])
    assert segment["rows"][-1]["action"] == "evidence.exported"
    assert segment["checkpoints"][-1]["seq"] == segment["rows"][-1]["seq"]
    assert AuditEvent.objects.filter(action="evidence.exported").exists()

    result = _run_verifier(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PACK OK" in result.stdout
    assert "not checked" in result.stdout  # no key given
    key_id = segment["checkpoints"][-1]["key_id"]
    signed = _run_verifier(tmp_path, "--key", f"{key_id}=AUDIT_KEY", key=settings.WARDEN_AUDIT_SIGNING_KEY)
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert "manifest signature: valid" in signed.stdout
    wrong = _run_verifier(tmp_path, "--key", f"{key_id}=AUDIT_KEY", key="not-the-key-" * 4)
    assert wrong.returncode == 1


@pytest.mark.parametrize(
    ("path", "mutate", "message"),
    [
        ("residency.json", lambda b: b.replace(b'"eu"', b'"us"', 1), "does not match the manifest"),
        ("audit/segment.json", None, "audit chain"),
        ("extra.txt", None, "not in the manifest"),
    ],
)
def test_tampered_pack_fails(tenant, admin_user, tmp_path, path, mutate, message):
    _unzip(evidence_pack_build(tenant=tenant, actor=admin_user), tmp_path)
    target = tmp_path / path
    if path == "audit/segment.json":
        # Rewrite a payload and fix the manifest: only the chain can tell.
        segment = json.loads(target.read_bytes())
        segment["rows"][0]["action"] = "tampered.action"
        target.write_text(json.dumps(segment))
        manifest = json.loads((tmp_path / "manifest.json").read_bytes())
        import hashlib

        manifest["files"][path] = hashlib.sha256(target.read_bytes()).hexdigest()
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    elif mutate is None:
        target.write_text("smuggled")
    else:
        target.write_bytes(mutate(target.read_bytes()))
    result = _run_verifier(tmp_path)
    assert result.returncode == 1
    assert message in result.stdout
    assert "PACK FAILED" in result.stdout


def test_evidence_export_command_writes_the_zip(tenant, tmp_path, capsys):
    out = tmp_path / "pack.zip"
    call_command("evidence_export", "--tenant", "alpha", "--out", str(out))
    assert "wrote" in capsys.readouterr().out
    assert set(zipfile.ZipFile(out).namelist()) == EXPECTED
    with pytest.raises(CommandError, match="not a directory"):
        call_command("evidence_export", "--tenant", "alpha", "--out", str(tmp_path / "missing" / "pack.zip"))
    with pytest.raises(CommandError, match="no tenant"):
        call_command("evidence_export", "--tenant", "nope", "--out", str(out))


def test_admin_downloads_the_pack_and_agents_cannot(web_as, admin_user, agent_user):
    response = web_as(admin_user).post("/admin/audit/auditevent/evidence-pack/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "evidence-alpha-" in response["Content-Disposition"]
    assert "verify_pack.py" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    listing = web_as(admin_user).get("/admin/audit/auditevent/")
    assert b"Download evidence pack" in listing.content
    assert web_as(agent_user).post("/admin/audit/auditevent/evidence-pack/").status_code == 302
