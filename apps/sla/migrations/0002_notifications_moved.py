"""The SLA app's own notifications moved into the notifications app (notifications.0003
copied them first)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("sla", "0001_initial"), ("notifications", "0003_sla_notifications")]
    operations = [migrations.DeleteModel(name="SlaNotification")]
