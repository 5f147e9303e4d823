"""Concurrent appends in one tenant: 8 writers x 1000 events, each with its own
connection and committed transactions (a throwaway tenant, `fresh_tenant`)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection, connections, transaction

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_verify, audit_head_get
from apps.audit.services import audit_record_system

WRITERS = 8
APPENDS = 1000


@pytest.fixture(autouse=True)
def _test_database_only(django_db_setup):
    # pytest-django creates the test database only when some selected test uses `db`;
    # `fresh_tenant` alone does not count. Never run these writers on a real database.
    if not connection.settings_dict["NAME"].startswith("test_"):
        pytest.fail("not on a test database: select at least one test using `tenant`/`db` with these")


def test_every_tenant_starts_with_one_head_row(tenant):
    """(Also makes selecting this module alone create the test database.)"""
    from apps.audit.models import AuditHead

    assert list(AuditHead.objects.values_list("id", flat=True)) == [1]


def _in_thread(tenant, target, errors: list, *args) -> threading.Thread:
    def run():
        try:
            connection.set_tenant(tenant)
            target(*args)
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)
        finally:
            connections.close_all()

    return threading.Thread(target=run)


def _append_many(worker: int) -> None:
    for n in range(APPENDS):
        audit_record_system(action="test.concurrent", payload={"worker": worker, "n": n})


@pytest.mark.slow
def test_concurrent_writers_make_one_linear_gapless_chain(fresh_tenant, record_property):
    start = audit_head_get()["seq"]
    errors: list[BaseException] = []
    threads = [_in_thread(fresh_tenant, _append_many, errors, w) for w in range(WRITERS)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    assert not errors, errors[:3]
    total = WRITERS * APPENDS
    record_property("audit_concurrent_appends", total)
    record_property("audit_concurrent_seconds", round(elapsed, 2))
    print(f"\n{total} concurrent audit appends ({WRITERS} writers) in {elapsed:.2f}s = {total / elapsed:.0f}/s")

    head = audit_head_get()
    assert head["seq"] == start + total
    rows = list(AuditEvent.objects.order_by("seq").values_list("seq", "prev_hash", "hash", "created_at", "payload"))
    assert [r[0] for r in rows] == list(range(1, start + total + 1))  # gapless from 1
    for before, after in zip(rows, rows[1:], strict=False):
        assert after[1] == before[2]  # linear: each links to the one before
        assert after[3] >= before[3]  # stamped under the head lock: time order is seq order
    seen = {}
    for _, _, _, _, payload in rows[start:]:
        data = json.loads(bytes(payload))
        assert data["n"] == seen.get(data["worker"], -1) + 1  # each writer's events in its own order
        seen[data["worker"]] = data["n"]
    assert seen == {w: APPENDS - 1 for w in range(WRITERS)}
    result = audit_chain_verify()
    assert result.ok, result
    assert result.head_seq == head["seq"]
    assert result.checkpoints_verified == head["seq"] // 100


def test_rolled_back_append_consumes_no_seq_under_contention(fresh_tenant):
    """A transaction that appends and then fails holds the head lock while it lives; the
    writer waiting behind it gets the very seq the failed one had taken."""
    start = audit_head_get()["seq"]
    errors: list[BaseException] = []
    appended = threading.Event()
    results: dict[str, int] = {}

    def business_write():
        with transaction.atomic():
            results["doomed"] = audit_record_system(action="test.doomed").seq
            appended.set()
            time.sleep(0.5)  # the other writer is now blocked on the head lock
            raise RuntimeError("business rule failed")

    def doomed():
        with pytest.raises(RuntimeError):
            business_write()

    def waiting():
        appended.wait(5)
        results["waiting"] = audit_record_system(action="test.waiting").seq

    threads = [_in_thread(fresh_tenant, doomed, errors), _in_thread(fresh_tenant, waiting, errors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results == {"doomed": start + 1, "waiting": start + 1}
    assert audit_head_get()["seq"] == start + 1
    assert not AuditEvent.objects.filter(action="test.doomed").exists()
    assert audit_chain_verify().ok


@pytest.mark.slow
def test_an_evidence_pack_built_while_others_append_verifies(fresh_tenant, tmp_path):
    """The pack reads chain, versions and decisions in one snapshot and signs exactly the
    head that snapshot saw: appends committing meanwhile cannot leave it with an unsigned
    tail or a decision whose event is missing."""
    import io
    import subprocess
    import sys
    import zipfile

    from apps.audit.evidence import evidence_pack_build
    from apps.policies.services import decide

    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            with transaction.atomic():
                decide(None, "ticket.teleport")  # an error: log row and audit event, together
                audit_record_system(action="test.during_export", payload={"n": n})
            n += 1

    writer = _in_thread(fresh_tenant, keep_writing, errors)
    writer.start()
    try:
        time.sleep(0.2)
        data = evidence_pack_build(tenant=fresh_tenant)
        time.sleep(0.2)
    finally:
        stop.set()
        writer.join(timeout=30)
    assert not errors, errors
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(tmp_path)
    segment = json.loads((tmp_path / "audit/segment.json").read_bytes())
    assert any(row["action"] == "test.during_export" for row in segment["rows"])
    assert audit_head_get()["seq"] > segment["head"]["seq"]  # appends went on after the snapshot
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-I", str(tmp_path / "verify_pack.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=120, env={"PATH": ""},
    )
    assert result.returncode == 3, result.stdout + result.stderr  # HMAC without the key: all else verified
    assert "PACK NOT VERIFIED" in result.stdout
    assert audit_chain_verify().ok
