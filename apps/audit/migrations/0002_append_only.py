"""Make the audit tables append-only in the database itself.

Row-level BEFORE UPDATE/DELETE and statement-level BEFORE TRUNCATE triggers on the
event and checkpoint tables raise `restrict_violation` (Django: IntegrityError). The
head row may only move forward and cannot be deleted or truncated. The trigger
functions live in the tenant schema itself (created unqualified while the migration
runs with that schema first on the search_path), so cloning a schema copies them with
its triggers. The head row is created here so a cloned schema starts with it.

The triggers stop mistakes and application bugs, not a database superuser (who can
disable triggers): the hash chain and signed checkpoints detect what gets past them.
"""

from django.db import migrations

GENESIS = "0" * 64

REJECT_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % on %.% is not allowed', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$body$
"""

HEAD_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_head_guard() RETURNS trigger
LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.seq >= OLD.seq THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit head may only move forward: % on %.% is not allowed', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$body$
"""

TRIGGERS = [
    "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_auditevent "
    "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()",
    "CREATE TRIGGER audit_checkpoint_no_change BEFORE UPDATE OR DELETE ON audit_auditcheckpoint "
    "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()",
    "CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_auditcheckpoint "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()",
    "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON audit_audithead "
    "FOR EACH ROW EXECUTE FUNCTION audit_head_guard()",
    "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_audithead "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()",
]

DROP_TRIGGERS = [
    "DROP TRIGGER IF EXISTS audit_event_no_change ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_change ON audit_auditcheckpoint",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_auditcheckpoint",
    "DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_audithead",
    "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_audithead",
]


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=[f"INSERT INTO audit_audithead (id, seq, hash) VALUES (1, 0, '{GENESIS}') ON CONFLICT (id) DO NOTHING"],
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunSQL(
            sql=[REJECT_FUNCTION, HEAD_FUNCTION, *TRIGGERS],
            reverse_sql=[
                *DROP_TRIGGERS,
                "DROP FUNCTION IF EXISTS audit_head_guard()",
                "DROP FUNCTION IF EXISTS audit_reject_change()",
            ],
        ),
    ]
