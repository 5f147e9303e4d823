"""`make demo`'s data: two tenants with people, teams and sample tickets, idempotent."""

from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context

from apps.accounts.models import Role, User
from apps.audit.selectors import audit_chain_verify
from apps.demo.seed import DEMO_TENANTS, PLATFORM_ADMIN
from apps.tenants.models import Tenant
from apps.tickets.models import Ticket, TicketComment


def test_seed_demo_builds_both_tenants_through_the_services(db, capsys):
    connection.set_schema_to_public()
    call_command("seed_demo")
    call_command("seed_demo")  # idempotent
    assert "demo tenant acme" in capsys.readouterr().out
    assert User.objects.filter(email=PLATFORM_ADMIN, is_superuser=True).count() == 1
    for spec in DEMO_TENANTS:
        tenant = Tenant.objects.get(slug=spec.slug)
        assert tenant.region == spec.region
        with schema_context(tenant.schema_name):
            roles = sorted(User.objects.values_list("role", flat=True))
            assert roles == [Role.ADMIN, Role.AGENT, Role.AGENT, Role.REQUESTER, Role.REQUESTER]
            assert Ticket.objects.count() == 6
            assert set(Ticket.objects.values_list("status", flat=True)) == {"new", "open", "pending", "resolved"}
            assert TicketComment.objects.filter(internal=True).exists()
            # Every sample ticket runs on a demo SLA policy (urgent 24x7, the rest office hours).
            from apps.sla.models import SlaClock, SlaPolicy

            assert SlaPolicy.objects.count() == 2
            assert set(SlaClock.objects.values_list("ticket_id", flat=True)) == set(Ticket.objects.values_list("pk", flat=True))
            office = SlaPolicy.objects.get(order=20).calendar
            assert (office.holiday_country, office.always_open) == ({"eu": "PL", "us": "US"}[spec.region], False)
            assert audit_chain_verify().ok
    connection.set_schema_to_public()
