"""Audit tables: events (the chain), the head row, signed checkpoints."""

from django.db import migrations, models

GENESIS = "0" * 64


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                ("seq", models.BigIntegerField(primary_key=True, serialize=False, verbose_name="sequence number")),
                ("created_at", models.DateTimeField(verbose_name="created")),
                ("actor_id", models.BigIntegerField(blank=True, null=True, verbose_name="actor id")),
                ("actor_label", models.CharField(max_length=320, verbose_name="actor")),
                ("action", models.CharField(max_length=100, verbose_name="action")),
                ("target_type", models.CharField(blank=True, max_length=100, verbose_name="target type")),
                ("target_id", models.CharField(blank=True, max_length=64, verbose_name="target id")),
                ("payload", models.BinaryField(verbose_name="payload")),
                ("request_id", models.CharField(blank=True, max_length=128, verbose_name="request id")),
                ("prev_hash", models.CharField(max_length=64, verbose_name="previous hash")),
                ("hash", models.CharField(max_length=64, verbose_name="hash")),
            ],
            options={
                "verbose_name": "audit event",
                "verbose_name_plural": "audit events",
                "ordering": ["seq"],
                "indexes": [
                    models.Index(fields=["action", "seq"], name="audit_event_action_idx"),
                    models.Index(fields=["actor_id", "seq"], name="audit_event_actor_idx"),
                    models.Index(fields=["target_type", "target_id"], name="audit_event_target_idx"),
                    models.Index(fields=["created_at"], name="audit_event_created_idx"),
                ],
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("seq__gte", 1)), name="audit_event_seq_positive"),
                ],
            },
        ),
        migrations.CreateModel(
            name="AuditHead",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("seq", models.BigIntegerField(default=0, verbose_name="last sequence number")),
                ("hash", models.CharField(default=GENESIS, max_length=64, verbose_name="last hash")),
                ("updated_at", models.DateTimeField(blank=True, null=True, verbose_name="updated")),
            ],
            options={
                "verbose_name": "audit head",
                "verbose_name_plural": "audit head",
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("id", 1)), name="audit_head_single_row"),
                    models.CheckConstraint(condition=models.Q(("seq__gte", 0)), name="audit_head_seq_non_negative"),
                ],
            },
        ),
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("seq", models.BigIntegerField(unique=True, verbose_name="sequence number")),
                ("hash", models.CharField(max_length=64, verbose_name="hash at seq")),
                ("created_at", models.DateTimeField(verbose_name="created")),
                ("key_id", models.CharField(max_length=64, verbose_name="key id")),
                ("signature", models.CharField(max_length=128, verbose_name="signature")),
                ("algorithm", models.CharField(default="hmac-sha256", max_length=32, verbose_name="algorithm")),
            ],
            options={
                "verbose_name": "audit checkpoint",
                "verbose_name_plural": "audit checkpoints",
                "ordering": ["seq"],
            },
        ),
    ]
