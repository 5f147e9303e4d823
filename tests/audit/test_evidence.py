"""The evidence pack: complete, verifiable offline by its own verify_pack.py, tamper-evident.

verify_pack.py runs as the auditor would run it: a separate Python process with no
Django and no project on the path (`-I`), from a pristine copy kept outside the pack, so
altering or deleting the pack's own verify_pack.py is something it must catch too.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from apps.audit.evidence import evidence_pack_build, verifier_source
from apps.audit.models import AuditCheckpoint, AuditEvent
from apps.audit.pack_main import pack_json
from apps.audit.verifier.assemble import part_sources
from apps.policies.services import decide

CONTENT = [
    "README.txt", "residency.json", "deployment.json", "policies/versions.json", "policies/decisions.jsonl",
    "triage/writes.jsonl",
    "audit/segment.json", "audit/keys.json", "verify_pack.py",
]
EXPECTED = {"manifest.json", "manifest.sig", *CONTENT}
ED_KEY_ID = "ed-test-1"


def _unzip(data: bytes, into) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(into)
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def pack_dir(tmp_path):
    """(pack folder, auditor's own copy of verify_pack.py)."""
    folder = tmp_path / "pack"
    folder.mkdir()
    return folder, tmp_path / "auditor" / "verify_pack.py"


def _extract(data: bytes, pack_dir) -> dict[str, bytes]:
    folder, verifier = pack_dir
    files = _unzip(data, folder)
    verifier.parent.mkdir(exist_ok=True)
    shutil.copyfile(folder / "verify_pack.py", verifier)
    return files


def _run(pack_dir, *args, key: str | None = None):
    folder, verifier = pack_dir
    env = {"PATH": os.environ.get("PATH", "")}  # no Django, no project on the path
    if key:
        env["AUDIT_KEY"] = key
    return subprocess.run(  # noqa: S603
        [sys.executable, "-I", str(verifier), str(folder), *args],
        capture_output=True, text=True, env=env, cwd=verifier.parent, timeout=120,
    )


def _rehash_manifest(folder) -> None:
    """What anyone can do without a key: make manifest.json match edited files."""
    manifest = json.loads((folder / "manifest.json").read_bytes())
    for name in CONTENT:
        if (folder / name).exists():
            manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "manifest.json").write_bytes(pack_json(manifest))


@pytest.fixture
def ed25519_signing():
    """Sign with a fresh Ed25519 key (PEM), keeping the HMAC key of earlier checkpoints as retired."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    retired = {settings.WARDEN_AUDIT_KEY_ID: settings.WARDEN_AUDIT_SIGNING_KEY}
    with override_settings(WARDEN_AUDIT_SIGNING_KEY=pem, WARDEN_AUDIT_KEY_ID=ED_KEY_ID, WARDEN_AUDIT_RETIRED_KEYS=retired):
        yield private


def _fingerprint(private) -> str:
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


# --- HMAC (existing deployments) ---------------------------------------------------------


def test_pack_contents_and_offline_verification_with_hmac(tenant, admin_user, requester_user, pack_dir):
    assert not decide(requester_user, "export.create").allowed  # a denial: the log and the chain both hold it
    files = _extract(evidence_pack_build(tenant=tenant, actor=admin_user), pack_dir)
    assert set(files) == EXPECTED
    residency = json.loads(files["residency.json"])
    assert residency["home_region"] == "eu"
    assert residency["deployment_region"] == settings.WARDEN_REGION
    versions = json.loads(files["policies/versions.json"])
    assert any(v["in_force"] for v in versions["versions"])
    assert json.loads(files["audit/keys.json"]) == {"keys": {}}
    segment = json.loads(files["audit/segment.json"])
    assert segment["rows"][-1]["action"] == "evidence.exported"
    assert segment["checkpoints"][-1]["seq"] == segment["rows"][-1]["seq"] == segment["head"]["seq"]
    assert AuditEvent.objects.filter(action="evidence.exported").exists()
    assert AuditCheckpoint.objects.filter(seq=segment["head"]["seq"]).exists()  # stored too
    signature = json.loads(files["manifest.sig"])
    assert (signature["key_id"], signature["algorithm"]) == (settings.WARDEN_AUDIT_KEY_ID, "hmac-sha256")

    keyless = _run(pack_dir)
    assert keyless.returncode == 3, keyless.stdout + keyless.stderr  # nothing wrong, but not verified
    assert "PACK NOT VERIFIED" in keyless.stdout
    assert "manifest signature: NOT checked" in keyless.stdout
    key_id = settings.WARDEN_AUDIT_KEY_ID
    signed = _run(pack_dir, "--key", f"{key_id}=AUDIT_KEY", key=settings.WARDEN_AUDIT_SIGNING_KEY)
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert "manifest signature: valid (HMAC key" in signed.stdout
    assert "PACK OK" in signed.stdout
    wrong = _run(pack_dir, "--key", f"{key_id}=AUDIT_KEY", key="not-the-key-" * 4)
    assert wrong.returncode == 1
    assert "manifest.sig: the signature does not verify" in wrong.stdout
    other_id = _run(pack_dir, "--key", "some-other-id=AUDIT_KEY", key=settings.WARDEN_AUDIT_SIGNING_KEY)
    assert other_id.returncode == 1, other_id.stdout  # was "not checked" and passed
    assert f"manifest.sig: signed with HMAC key '{key_id}', but the key given is some-other-id" in other_id.stdout


def _edit_json(path, change) -> None:
    data = json.loads(path.read_bytes())
    change(data)
    path.write_bytes(pack_json(data))


def _edit_decisions(path) -> None:
    lines = [json.loads(line) for line in path.read_bytes().splitlines()]
    denied = next(row for row in lines if row["outcome"] == "denied")
    denied["outcome"], denied["allowed"] = "allowed", True
    path.write_bytes(b"".join(json.dumps(row, sort_keys=True, ensure_ascii=False).encode() + b"\n" for row in lines))


def _drop_denied_decision(path) -> None:
    lines = [line for line in path.read_bytes().splitlines(keepends=True) if b'"outcome": "denied"' not in line]
    path.write_bytes(b"".join(lines))


def _edit_segment(path) -> None:
    def change(segment):
        segment["rows"][0]["action"] = "tampered.action"

    _edit_json(path, change)


CROSS_CHECKED_EDITS = [
    ("policies/versions.json", lambda p: _edit_json(p, lambda d: d["versions"][0]["rules"].pop()),
     "are not the ones published"),
    ("policies/versions.json", lambda p: _edit_json(p, lambda d: d.update(mode="dry_run")), "is not the mode"),
    ("policies/decisions.jsonl", _edit_decisions, "differs from its audit event"),
    ("policies/decisions.jsonl", _drop_denied_decision, "is missing"),
    ("deployment.json", lambda p: _edit_json(p, lambda d: d.update(tenant_schema="t_beta")), "tenant_schema"),
    ("deployment.json", lambda p: _edit_json(p, lambda d: d.update(generated_by="someone@else.test")), "generated_by"),
    ("residency.json", lambda p: _edit_json(p, lambda d: d.update(tenant="beta")), "tenant"),
    ("audit/segment.json", _edit_segment, "audit chain broken"),
]


@pytest.mark.parametrize(("name", "edit", "message"), CROSS_CHECKED_EDITS)
def test_edits_with_a_recomputed_manifest_are_caught_by_the_cross_checks(
    tenant, admin_user, requester_user, pack_dir, name, edit, message
):
    """Without the HMAC key nobody can check manifest.sig, so an editor can make the
    manifest match; the files must still agree with each other and with the chain."""
    decide(requester_user, "export.create")  # one denied decision in the log and the chain
    _extract(evidence_pack_build(tenant=tenant, actor=admin_user), pack_dir)
    folder = pack_dir[0]
    edit(folder / name)
    _rehash_manifest(folder)
    result = _run(pack_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "PACK FAILED" in result.stdout
    named = [line for line in result.stdout.splitlines() if line.startswith(f"{name}: ")]
    assert any(message in line for line in named), result.stdout


# --- Ed25519: verifiable by anyone, forgeable by nobody without the private key --------------


def test_ed25519_pack_verifies_with_no_secret_at_all(tenant, admin_user, pack_dir, ed25519_signing):
    files = _extract(evidence_pack_build(tenant=tenant, actor=admin_user), pack_dir)
    fingerprint = _fingerprint(ed25519_signing)
    keys = json.loads(files["audit/keys.json"])["keys"]
    assert keys[ED_KEY_ID]["fingerprint"] == fingerprint
    assert fingerprint in files["README.txt"].decode()
    segment = json.loads(files["audit/segment.json"])
    assert segment["checkpoints"][-1]["algorithm"] == "ed25519"
    assert len(segment["checkpoints"][-1]["signature"]) == 128
    assert json.loads(files["manifest.sig"])["algorithm"] == "ed25519"

    result = _run(pack_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"valid (Ed25519 key {ED_KEY_ID}, fingerprint {fingerprint}; NOT pinned" in result.stdout
    assert "PACK OK" in result.stdout
    pinned = _run(pack_dir, "--trust", f"{ED_KEY_ID}={fingerprint}")
    assert pinned.returncode == 0, pinned.stdout
    assert "trusted)" in pinned.stdout
    impostor = _fingerprint(Ed25519PrivateKey.generate())
    wrong = _run(pack_dir, "--trust", f"{ED_KEY_ID}={impostor}")
    assert wrong.returncode == 1
    assert f"audit/keys.json: key '{ED_KEY_ID}' is not the key you trust" in wrong.stdout


def test_a_pack_signed_with_the_install_key_verifies_with_the_public_key_only(tenant, admin_user, pack_dir, tmp_path):
    """What a fresh local or demo install does (config.settings.local without
    WARDEN_AUDIT_SIGNING_KEY): sign with the key made once in .run/ (here a temp dir)."""
    from apps.audit.keys import ed25519_fingerprint, install_signing_key

    key = install_signing_key(tmp_path / "run" / "audit-signing-key")
    fingerprint = ed25519_fingerprint(key)
    key_id = f"local-{fingerprint[:12]}"
    with override_settings(WARDEN_AUDIT_SIGNING_KEY=key, WARDEN_AUDIT_KEY_ID=key_id):
        files = _extract(evidence_pack_build(tenant=tenant, actor=admin_user), pack_dir)
    assert json.loads(files["audit/keys.json"])["keys"][key_id]["fingerprint"] == fingerprint
    assert json.loads(files["manifest.sig"])["algorithm"] == "ed25519"
    assert {cp["algorithm"] for cp in json.loads(files["audit/segment.json"])["checkpoints"]} == {"ed25519"}
    result = _run(pack_dir)  # no --key: the pack's verifier has the public key and nothing else
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"valid (Ed25519 key {key_id}, fingerprint {fingerprint}; NOT pinned" in result.stdout
    assert "PACK OK" in result.stdout
    assert _run(pack_dir, "--trust", f"{key_id}={fingerprint}").returncode == 0


def _append(path) -> None:
    path.write_bytes(path.read_bytes() + b" ")


@pytest.mark.parametrize("how", ["altered", "deleted"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_file_altered_or_deleted_fails_naming_it(tenant, admin_user, pack_dir, ed25519_signing, name, how):
    _extract(evidence_pack_build(tenant=tenant, actor=admin_user), pack_dir)
    target = pack_dir[0] / name
    if how == "altered":
        _append(target)
    else:
        target.unlink()
    result = _run(pack_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "PACK FAILED" in result.stdout
    assert any(line.startswith(f"{name}: ") for line in result.stdout.splitlines()), result.stdout


def test_an_added_file_fails_naming_it(tenant, admin_user, pack_dir, ed25519_signing):
    _extract(evidence_pack_build(tenant=tenant, actor=admin_user), pack_dir)
    (pack_dir[0] / "extra.txt").write_text("smuggled")
    result = _run(pack_dir)
    assert result.returncode == 1
    assert "extra.txt: not part of a Warden evidence pack" in result.stdout


def test_a_pack_resigned_with_another_key_fails_only_when_the_key_is_pinned(tenant, admin_user, pack_dir, ed25519_signing):
    """Someone who rewrites everything and signs with their own key produces a pack that is
    consistent: only comparing the key's fingerprint with the published one tells."""
    from apps.audit import verify

    _extract(evidence_pack_build(tenant=tenant, actor=admin_user), pack_dir)
    folder = pack_dir[0]
    forger = Ed25519PrivateKey.generate()
    raw = forger.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    segment = json.loads((folder / "audit/segment.json").read_bytes())
    for cp in segment["checkpoints"]:
        if cp["key_id"] == ED_KEY_ID:
            message = verify.checkpoint_message(tenant_id=segment["tenant_id"], seq=cp["seq"], hash=cp["hash"])
            cp["signature"] = forger.sign(message).hex()
    (folder / "audit/segment.json").write_bytes(pack_json(segment))
    key = verify.Ed25519PublicKey(raw)
    (folder / "audit/keys.json").write_bytes(pack_json(
        {"keys": {ED_KEY_ID: {"algorithm": "ed25519", "public_key": key.hex, "fingerprint": key.fingerprint}}}
    ))
    _rehash_manifest(folder)
    manifest = (folder / "manifest.json").read_bytes()
    (folder / "manifest.sig").write_bytes(pack_json(
        {"key_id": ED_KEY_ID, "algorithm": "ed25519", "signature": forger.sign(manifest).hex()}
    ))
    unpinned = _run(pack_dir)
    assert unpinned.returncode == 0, unpinned.stdout  # consistent: the fingerprint is the tell
    assert key.fingerprint in unpinned.stdout
    pinned = _run(pack_dir, "--trust", f"{ED_KEY_ID}={_fingerprint(ed25519_signing)}")
    assert pinned.returncode == 1
    assert "audit/keys.json: key" in pinned.stdout


def test_verify_pack_reads_the_zip_and_prints_json(tenant, admin_user, tmp_path, ed25519_signing):
    data = evidence_pack_build(tenant=tenant, actor=admin_user)
    archive = tmp_path / "pack.zip"
    archive.write_bytes(data)
    verifier = tmp_path / "verify_pack.py"
    verifier.write_bytes(zipfile.ZipFile(archive).read("verify_pack.py"))
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-I", str(verifier), str(archive), "--json"],
        capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")}, timeout=120,
    )
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout
    assert (report["status"], report["ok"]) == ("ok", True)
    assert report["audit"]["ok"] is True


# --- verify_pack.py itself: the verifier's parts and pack_main.py, joined ------------------


def test_verify_pack_py_is_each_part_once_stdlib_only_and_verifies_a_real_pack(
    tenant, admin_user, pack_dir, ed25519_signing
):
    source = verifier_source()
    assert verifier_source() == source  # byte for byte (other hash seeds: test_verify_pack.py)
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import left at line {node.lineno}"
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    assert source.count("from __future__ import") == 1
    assert ast.get_docstring(tree)
    assert isinstance(tree.body[1], ast.ImportFrom)
    assert tree.body[1].module == "__future__"  # right after the docstring

    joined = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    by_name = {node.name: node for node in joined}
    pack_main = settings.BASE_DIR / "apps" / "audit" / "pack_main.py"
    expected = []
    for label, text in [*part_sources(), ("pack_main.py", pack_main.read_text(encoding="utf-8"))]:
        for node in ast.parse(text).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                expected.append(node.name)
                assert ast.dump(by_name[node.name]) == ast.dump(node), f"{label}: {node.name} changed on the way"
    assert sorted(node.name for node in joined) == sorted(expected)  # each exactly once, nothing else
    assert {"canonicalize", "event_hash", "ed25519_verify", "ChainVerifier", "main", "pack_main"} <= set(expected)

    files = _extract(evidence_pack_build(tenant=tenant, actor=admin_user), pack_dir)
    assert files["verify_pack.py"] == source.encode("utf-8")
    result = _run(pack_dir, "--trust", f"{ED_KEY_ID}={_fingerprint(ed25519_signing)}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PACK OK" in result.stdout


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
