"""`audit_verify` over a long chain (target: 1,000,000 events in under 15 s).

    .venv/bin/python bench/audit_verify.py [--events N] [--checkpoint-every K]

Loads N valid, chained events into a throwaway tenant, then times the real
`manage.py audit_verify --tenant <slug>` (and the service under it once more).

Loading goes around the append service, for speed, but not around the format: every
hash comes from `apps.audit.verify.event_hash` and every checkpoint signature from
`verify.checkpoint_signature` with the configured key, the rows go in with COPY (the
append-only triggers refuse only UPDATE, DELETE and TRUNCATE, so nothing is bypassed)
and the head row is moved forward as the service does. The last events are then
appended through the real `audit_record`, which must link onto the loaded chain; the
verifier accepting the whole chain is the proof that the load was faithful.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from datetime import UTC, datetime, timedelta

from governance_common import load_line, setup_django, throwaway_tenant

setup_django()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from environment import describe  # noqa: E402

from apps.audit import keys, verify  # noqa: E402
from apps.audit.models import AuditCheckpoint, AuditEvent, AuditHead  # noqa: E402
from apps.audit.selectors import audit_chain_verify  # noqa: E402
from apps.audit.services import audit_record  # noqa: E402

REAL_APPENDS = 25
COLUMNS = ("seq", "created_at", "actor_id", "actor_label", "action", "target_type", "target_id",
           "payload", "request_id", "prev_hash", "hash")


def _payload(seq: int) -> bytes:
    """A mix of realistic shapes; a few take the verifier's slow canonical path."""
    kind = seq % 50
    if kind == 0:
        value = {"note": "café ☕ \U0001f600 résumé", "ticket": seq}  # non-BMP: full check
    elif kind < 20:
        value = {"from": "open", "to": "resolved", "ticket": seq}
    elif kind < 35:
        value = {"title": {"length": 40 + kind, "sha256": hashlib.sha256(b"%d" % seq).hexdigest()}, "ticket": seq}
    elif kind < 45:
        value = {"decision_id": seq, "action": "ticket.view", "outcome": "denied", "reasons": ["no rule allows"],
                 "enforced": True, "mode": "enforce", "resource_type": "tickets.ticket", "resource_id": str(seq)}
    else:
        value = {"email": f"user{seq % 997}@bench.test", "role": "agent"}
    return verify.canonicalize(value)


def load(tenant_id: str, events: int, checkpoint_every: int) -> int:
    """COPY `events` rows continuing the chain from its head, and their checkpoints; move
    the head. Returns the new head seq."""
    key_id, key = keys.signing_key()
    head = AuditHead.objects.select_for_update().get(pk=1)
    first, prev = head.seq + 1, head.hash
    start = datetime.now(UTC) - timedelta(days=30)
    raw = connection.connection
    event_table = connection.ops.quote_name(AuditEvent._meta.db_table)
    checkpoints = []
    with raw.cursor() as cursor, cursor.copy(f"COPY {event_table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for seq in range(first, first + events):
            created = start + timedelta(microseconds=seq * 1013)
            created_text = verify.format_timestamp(created)
            actor_id = None if seq % 7 == 0 else seq % 40 + 1
            label = "system" if actor_id is None else f"user{actor_id}@bench.test"
            action = ("ticket.transitioned", "policy.denied", "user.updated", "ticket.commented")[seq % 4]
            target_type, target_id = "tickets.ticket", str(seq // 3 + 1)
            request = f"req-{seq // 5:x}"
            payload = _payload(seq)
            digest = verify.event_hash(
                tenant_id=tenant_id, seq=seq, prev_hash=prev, created_at=created_text, actor_id=actor_id,
                actor_label=label, action=action, target_type=target_type, target_id=target_id,
                request_id=request, payload=payload,
            )
            copy.write_row((seq, created, actor_id, label, action, target_type, target_id, payload, request, prev, digest))
            prev = digest
            if checkpoint_every and seq % checkpoint_every == 0:
                checkpoints.append((seq, digest, created, key_id,
                                    verify.checkpoint_signature(key=key, tenant_id=tenant_id, seq=seq, hash=digest),
                                    verify.CHECKPOINT_ALGORITHM))
            if (seq - first + 1) % 200_000 == 0:
                print(f"  loaded {seq - first + 1} events", flush=True)
    checkpoint_table = connection.ops.quote_name(AuditCheckpoint._meta.db_table)
    with raw.cursor() as cursor, cursor.copy(
        f"COPY {checkpoint_table} (seq, hash, created_at, key_id, signature, algorithm) FROM STDIN"
    ) as copy:
        for row in checkpoints:
            copy.write_row(row)
    last = first + events - 1
    AuditHead.objects.filter(pk=1).update(seq=last, hash=prev, updated_at=start + timedelta(microseconds=last * 1013))
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to load (default 1,000,000)")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="signed checkpoint interval (default 100)")
    args = parser.parse_args()
    with throwaway_tenant("bench-verify") as tenant:
        print(describe())
        started = time.perf_counter()
        with transaction.atomic():  # provisioning's own events stay: the load continues after them
            last = load(tenant.schema_name, args.events, args.checkpoint_every)
        for i in range(REAL_APPENDS):  # the real service continues the loaded chain
            audit_record(actor=None, action="bench.appended", payload={"i": i})
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE audit_auditevent")
        total = last + REAL_APPENDS
        print(f"loaded {total} events in {time.perf_counter() - started:.1f} s "
              f"(checkpoint every {args.checkpoint_every})", flush=True)

        started = time.perf_counter()
        try:
            call_command("audit_verify", "--tenant", tenant.slug)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        command_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result = audit_chain_verify()
        service_seconds = time.perf_counter() - started
        print(f"audit_verify --tenant {tenant.slug}: exit {code}, {command_seconds:.2f} s for {total} events "
              f"({total / command_seconds:,.0f} events/s)")
        print(f"audit_chain_verify() again: {service_seconds:.2f} s, rows={result.rows_checked}, "
              f"checkpoints_verified={result.checkpoints_verified}, ok={result.ok}")
        if code != 0 or not result.ok or result.rows_checked != total:
            raise SystemExit("the loaded chain did not verify")
    print(f"  {load_line()}")


if __name__ == "__main__":
    main()
