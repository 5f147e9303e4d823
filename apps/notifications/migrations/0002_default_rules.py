"""Every tenant starts with the shipped rules (who hears of what), editable in the admin.
In the migrated base schema, so tenants cloned from it have them too."""

from django.db import migrations

DEFAULTS = {
    "ticket_created": ["team"],
    "ticket_assigned": ["assignee"],
    "public_reply": ["requester", "watchers"],
    "requester_reply": ["assignee", "watchers"],
    "internal_note": ["watchers"],
    "mentioned": ["mentioned"],
    "ticket_resolved": ["requester", "watchers"],
    "ticket_reopened": ["assignee"],
    "ticket_closed": [],
    "sla_warning": ["assignee"],
    "sla_breached": ["assignee", "team_lead"],
}


def create(apps, schema_editor):
    rule = apps.get_model("notifications", "NotificationRule")
    for kind, recipients in DEFAULTS.items():
        rule.objects.get_or_create(kind=kind, defaults={"recipients": recipients, "enabled": True})


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
