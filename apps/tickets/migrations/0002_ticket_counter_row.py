"""The tenant's ticket counter row (tenants cloned from the base schema copy it, at 0)."""

from django.db import migrations


def create_counter(apps, schema_editor):
    TicketCounter = apps.get_model("tickets", "TicketCounter")
    Ticket = apps.get_model("tickets", "Ticket")
    last = Ticket.objects.order_by("-number").values_list("number", flat=True).first() or 0
    TicketCounter.objects.get_or_create(singleton=True, defaults={"last_number": last})


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]

    operations = [migrations.RunPython(create_counter, migrations.RunPython.noop)]
