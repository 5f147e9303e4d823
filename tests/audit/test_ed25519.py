"""Ed25519 checkpoints: the standard-library verifier against `cryptography`, the key
formats, and the chain signed and verified end to end."""

from __future__ import annotations

import base64
import random
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from django.core.management import call_command
from django.test import override_settings

from apps.audit import keys, verify
from apps.audit.checks import check_signing_key
from apps.audit.selectors import audit_chain_verify, audit_export_segment
from apps.audit.services import audit_checkpoint_create, audit_record_system
from apps.audit.verifier import ed25519

from .conftest import build_segment


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _pem(private: Ed25519PrivateKey) -> str:
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


# --- the pure verifier ------------------------------------------------------------------


def test_rfc8032_test_vector_1():
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert verify.ed25519_verify(public, signature, b"")
    assert not verify.ed25519_verify(public, signature, b"\x00")
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    assert Ed25519PrivateKey.from_private_bytes(seed).sign(b"") == signature  # the vector is what cryptography makes


def test_agrees_with_cryptography_on_valid_and_tampered_signatures():
    rng = random.Random(8032)
    for size in [0, 1, 31, 32, 33, 64, 200, 1000]:
        private = Ed25519PrivateKey.generate()
        public = _raw_public(private)
        message = rng.randbytes(size)
        signature = private.sign(message)
        assert verify.ed25519_verify(public, signature, message)
        assert not verify.ed25519_verify(_raw_public(Ed25519PrivateKey.generate()), signature, message)  # wrong key
        if message:
            flipped = bytearray(message)
            flipped[rng.randrange(size)] ^= 1 << rng.randrange(8)
            assert not verify.ed25519_verify(public, signature, bytes(flipped))  # tampered message
        assert not verify.ed25519_verify(public, signature, message + b"!")
        for index in (0, 17, 31, 32, 45, 63):  # tampered R and S halves
            bad = bytearray(signature)
            bad[index] ^= 1 << rng.randrange(8)
            assert not verify.ed25519_verify(public, bytes(bad), message)


def test_refuses_malleable_and_malformed_input():
    private = Ed25519PrivateKey.generate()
    public = _raw_public(private)
    signature = private.sign(b"checkpoint")
    s = int.from_bytes(signature[32:], "little")
    malleable = signature[:32] + (s + ed25519._ED_L).to_bytes(32, "little")  # same point, S >= L
    assert not verify.ed25519_verify(public, malleable, b"checkpoint")
    not_a_point = (2**255 - 1).to_bytes(32, "little")  # y >= p
    assert not verify.ed25519_verify(not_a_point, signature, b"checkpoint")
    assert not verify.ed25519_verify(public, not_a_point + signature[32:], b"checkpoint")
    assert not verify.ed25519_verify(public[:31], signature, b"checkpoint")
    assert not verify.ed25519_verify(public, signature[:63], b"checkpoint")
    with pytest.raises(ValueError, match="32 bytes"):
        verify.Ed25519PublicKey(not_a_point)
    assert not verify.Ed25519PublicKey(public).verify("zz-not-hex", b"checkpoint")


# --- keys from settings ----------------------------------------------------------------


def test_key_formats():
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    forms = (
        _pem(private),
        "ed25519:" + base64.b64encode(seed).decode(),
        "ed25519:" + base64.urlsafe_b64encode(seed).decode().rstrip("="),
    )
    for text in forms:
        with override_settings(WARDEN_AUDIT_SIGNING_KEY=text, WARDEN_AUDIT_KEY_ID="ed1"):
            signer = keys.signer()
            assert (signer.key_id, signer.algorithm) == ("ed1", "ed25519")
            assert signer.public_key.raw == _raw_public(private)
            assert verify.ed25519_verify(signer.public_key.raw, bytes.fromhex(signer.sign(b"m")), b"m")
            assert keys.public_keys() == {"ed1": signer.public_key}
            assert "_secret" not in repr(signer)  # the private key never shows in logs
    with override_settings(WARDEN_AUDIT_SIGNING_KEY="a-long-enough-hmac-secret-for-the-test-0123", WARDEN_AUDIT_KEY_ID="h1"):
        assert keys.signer().algorithm == "hmac-sha256"
        assert keys.public_keys() == {}


def test_retired_keys_in_every_form():
    old = Ed25519PrivateKey.generate()
    public_only = "ed25519-public:" + _raw_public(old).hex()
    retired = {"old-ed": public_only, "old-pem": _pem(old), "old-hmac": "retired-hmac-secret"}
    with override_settings(WARDEN_AUDIT_RETIRED_KEYS=retired):
        found = keys.verification_keys()
    assert found["old-ed"] == found["old-pem"] == verify.Ed25519PublicKey(_raw_public(old))
    assert found["old-hmac"] == b"retired-hmac-secret"


def test_unusable_keys_are_refused_and_reported_by_check_deploy():
    rsa = generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    for bad in (rsa, "ed25519:dG9vIHNob3J0", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"):
        with override_settings(WARDEN_AUDIT_SIGNING_KEY=bad):
            with pytest.raises(keys.SigningKeyInvalid):
                keys.signer()
            assert [e.id for e in check_signing_key(None)] == ["audit.E003"]
    with override_settings(WARDEN_AUDIT_SIGNING_KEY=_pem(Ed25519PrivateKey.generate())):
        assert check_signing_key(None) == []


def test_install_signing_key_is_made_once_private_and_reused(tmp_path):
    path = tmp_path / "run" / "audit-signing-key"
    text = keys.install_signing_key(path)
    assert path.read_text() == text
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["audit-signing-key"]  # no temporary file left
    with override_settings(WARDEN_AUDIT_SIGNING_KEY=text, WARDEN_AUDIT_KEY_ID="local-1"):
        signer = keys.signer()
        assert signer.algorithm == "ed25519"
        assert signer.public_key.verify(signer.sign(b"m"), b"m")
        assert signer.public_key.fingerprint == keys.ed25519_fingerprint(text)
    assert keys.install_signing_key(path) == text  # the second call reads it back
    assert keys.install_signing_key(str(path)) == text
    assert path.stat().st_mode & 0o777 == 0o600
    assert keys.install_signing_key(tmp_path / "other") != text  # another install, another key


def test_processes_starting_together_agree_on_one_install_key(tmp_path):
    """web, worker and beat start at once on a fresh install: one key, the same for all."""
    path = tmp_path / "audit-signing-key"
    start = time.time() + 2
    child = ("import sys, time\n"
             "from apps.audit.keys import install_signing_key\n"
             f"while time.time() < {start}: pass\n"
             f"sys.stdout.write(install_signing_key({str(path)!r}))\n")
    root = Path(__file__).resolve().parents[2]
    processes = [subprocess.Popen([sys.executable, "-c", child], cwd=root, stdout=subprocess.PIPE, text=True)  # noqa: S603
                 for _ in range(6)]
    texts = {process.communicate(timeout=60)[0] for process in processes}
    assert all(process.returncode == 0 for process in processes)
    assert texts == {path.read_text()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit-signing-key"]


def test_an_unusable_install_key_is_refused_never_replaced(tmp_path):
    path = tmp_path / "audit-signing-key"
    path.write_text("not a key\n")
    with pytest.raises(keys.SigningKeyInvalid, match="does not hold a usable Ed25519 key"):
        keys.install_signing_key(path)
    assert path.read_text() == "not a key\n"


# --- the chain, signed with Ed25519 -------------------------------------------------------


@pytest.fixture
def ed25519_key(settings):
    private = Ed25519PrivateKey.generate()
    settings.WARDEN_AUDIT_RETIRED_KEYS = {settings.WARDEN_AUDIT_KEY_ID: settings.WARDEN_AUDIT_SIGNING_KEY}
    settings.WARDEN_AUDIT_SIGNING_KEY = _pem(private)
    settings.WARDEN_AUDIT_KEY_ID = "ed-chain"
    return private


def test_checkpoints_signed_with_ed25519_verify_in_the_app_and_offline(tenant, ed25519_key):
    for i in range(3):
        audit_record_system(action="test.ed25519", payload={"i": i})
    checkpoint = audit_checkpoint_create()
    assert (checkpoint.algorithm, checkpoint.key_id, len(checkpoint.signature)) == ("ed25519", "ed-chain", 128)
    assert audit_chain_verify().ok
    out = StringIO()
    call_command("audit_verify", "--tenant", "alpha", stdout=out)
    assert " OK " in out.getvalue()
    segment = audit_export_segment()
    public = verify.Ed25519PublicKey(_raw_public(ed25519_key))
    offline_keys = {**keys.verification_keys(), "ed-chain": public}  # only the public key for the new one
    result = verify.verify_segment(segment, keys=offline_keys)
    assert result.ok, result
    assert result.signatures_checked


def test_a_checkpoint_signed_by_another_ed25519_key_is_caught(tenant, ed25519_key, settings):
    audit_record_system(action="test.ed25519", payload={})
    settings.WARDEN_AUDIT_SIGNING_KEY = _pem(Ed25519PrivateKey.generate())  # same id, another key
    checkpoint = audit_checkpoint_create()
    settings.WARDEN_AUDIT_SIGNING_KEY = _pem(ed25519_key)
    result = audit_chain_verify()
    assert (result.ok, result.failure, result.first_bad_seq) == (False, verify.CHECKPOINT_SIGNATURE, checkpoint.seq)


def test_an_hmac_checkpoint_cannot_borrow_an_ed25519_public_key():
    """Algorithm confusion: the public key is public, so an "hmac-sha256" checkpoint
    checked with it as the HMAC secret would be forgeable by anyone."""
    private = Ed25519PrivateKey.generate()
    public = verify.Ed25519PublicKey(_raw_public(private))
    segment = build_segment(12, checkpoint_every=0)
    head = segment["rows"][-1]
    segment["checkpoints"] = [{
        "seq": head["seq"], "hash": head["hash"], "created_at": "2025-03-04T05:59:00.000000Z", "key_id": "ed",
        "signature": verify.checkpoint_signature(
            key=public.raw, tenant_id=segment["tenant_id"], seq=head["seq"], hash=head["hash"]
        ),
        "algorithm": "hmac-sha256",
    }]
    result = verify.verify_segment(segment, keys={"ed": public})
    assert (result.ok, result.failure) == (False, verify.CHECKPOINT_SIGNATURE)
    assert "claims 'hmac-sha256'" in result.message
    good = dict(segment["checkpoints"][0], algorithm="ed25519", signature=private.sign(
        verify.checkpoint_message(tenant_id=segment["tenant_id"], seq=head["seq"], hash=head["hash"])).hex())
    segment["checkpoints"] = [good]
    assert verify.verify_segment(segment, keys={"ed": public}).ok
    assert not verify.verify_segment(segment, keys={"ed": b"an hmac secret"}).ok  # and the other way round


def test_the_command_line_takes_public_keys(tmp_path, capsys):
    import json

    private = Ed25519PrivateKey.generate()
    segment = build_segment(5, checkpoint_every=0)
    head = segment["rows"][-1]
    message = verify.checkpoint_message(tenant_id=segment["tenant_id"], seq=head["seq"], hash=head["hash"])
    segment["checkpoints"] = [{"seq": head["seq"], "hash": head["hash"], "created_at": "2025-03-04T05:59:00.000000Z",
                               "key_id": "ed", "signature": private.sign(message).hex(), "algorithm": "ed25519"}]
    path = tmp_path / "segment.json"
    path.write_text(json.dumps(segment))
    public_hex = _raw_public(private).hex()
    assert verify.main([str(path), "--public-key", f"ed={public_hex}"]) == 0
    assert capsys.readouterr().out.startswith("OK head_seq=5")
    other = _raw_public(Ed25519PrivateKey.generate()).hex()
    assert verify.main([str(path), "--public-key", f"ed={other}"]) == 1
    assert verify.main([str(path), "--public-key", "ed=xyz"]) == 2
