"""SLA notifications move into this app (the SLA app keeps only its events): the in-app
records the SLA app's own notifier wrote become notifications of kind `sla_warning` /
`sla_breached`, read or not as they were. sla.0002 drops the old table after this."""

from django.db import migrations


def copy(apps, schema_editor):
    old = apps.get_model("sla", "SlaNotification")
    new = apps.get_model("notifications", "Notification")
    rows = []
    for row in old.objects.select_related("event").iterator():
        event = row.event
        rows.append(new(
            recipient_id=row.recipient_id,
            kind="sla_breached" if event.kind == "breach" else "sla_warning",
            key=f"sla:{event.pk}",
            event_id=0,
            ticket_id=event.ticket_id,
            context={"metric": event.metric, "threshold": event.threshold, "sla_event": event.pk},
            created_at=row.created_at,
            read_at=row.read_at,
        ))
    new.objects.bulk_create(rows, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0002_default_rules"), ("sla", "0001_initial")]
    operations = [migrations.RunPython(copy, migrations.RunPython.noop)]
