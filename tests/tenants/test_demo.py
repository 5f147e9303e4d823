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
            # The desk's triage queue has work from the start: the sample printer ticket
            # matches a demo rule and waits for approval once the outbox delivers.
            from apps.events.services.relay import relay_run
            from apps.triage.models import Proposal, Rule
            from apps.triage.services.runs import run_sweep

            assert Rule.objects.count() == 3
            relay_run(budget_seconds=30)
            run_sweep()
            printer = Proposal.objects.get(ticket__title__startswith="Printer on floor 2")
            assert (printer.status, printer.rule_name) == ("pending", "Printers and scanners")
    connection.set_schema_to_public()


def test_the_demo_connects_acme_to_the_fake_servicenow_and_incidents_arrive(db, settings, monkeypatch, capsys):
    """`make demo`: acme's connector calls the fake ServiceNow that scripts/demo.sh starts
    (here started by the test on a free port); one poll turns its incidents into tickets.
    Without loopback allowed (production, the tests' default) no such connector is made."""
    from apps.connectors.models import Connector, IncidentLink
    from apps.connectors.servicenow.services import servicenow_poll
    from apps.demo.seed import DEMO_SERVICENOW_NAME, DEMO_SERVICENOW_TOKEN
    from fakes.servicenow import FakeServiceNow

    connection.set_schema_to_public()
    call_command("seed_demo")
    with schema_context("t_acme"):
        assert not Connector.objects.exists()
    settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK = True
    with FakeServiceNow(token=DEMO_SERVICENOW_TOKEN) as fake:
        monkeypatch.setenv("FAKE_SERVICENOW_PORT", str(fake.url.rsplit(":", 1)[-1]))
        fake.seed(5)
        connection.set_schema_to_public()
        call_command("seed_demo")
        call_command("seed_demo")  # idempotent
        call_command("demo_banner", "--port", "8000")
        assert f"connector {DEMO_SERVICENOW_NAME}" in capsys.readouterr().out
        with schema_context("t_acme"):
            connector = Connector.objects.get(name=DEMO_SERVICENOW_NAME)
            assert (connector.kind, connector.dry_run, connector.base_url) == ("servicenow", False, fake.url)
            result = servicenow_poll(connector=connector)
            assert result.imported == 5
            assert IncidentLink.objects.count() == 5
            assert Ticket.objects.filter(source="servicenow").count() == 5
        with schema_context("t_globex"):
            assert not Connector.objects.exists()
    connection.set_schema_to_public()


def test_the_demo_gives_acme_the_fake_language_model_for_tickets_no_rule_matches(db, settings, monkeypatch):
    """scripts/demo.sh runs `python -m fakes.llm`; acme's language model calls it, and a
    ticket none of the demo's triage rules matches gets the model's proposal."""
    from apps.accounts.models import User
    from apps.events.services.relay import relay_run
    from apps.tickets.services import ticket_create
    from apps.triage.models import LlmProvider, Proposal
    from apps.triage.services.runs import run_sweep
    from fakes.llm import FakeLLM

    settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK = True
    with FakeLLM() as fake:
        monkeypatch.setenv("FAKE_LLM_PORT", str(fake.url.rsplit(":", 1)[-1]))
        connection.set_schema_to_public()
        call_command("seed_demo")
        with schema_context("t_acme"):
            assert LlmProvider.objects.get().base_url == f"{fake.url}/v1"
            ticket = ticket_create(actor=User.objects.get(email="marta@acme.example"),
                                   title="The coffee machine shows error E42")
            for _ in range(3):
                relay_run(budget_seconds=30)
                run_sweep()
            proposal = Proposal.objects.get(ticket=ticket)
            assert (proposal.classifier, proposal.model) == ("llm", "openai:demo-triage-model")
            assert fake.requests
        with schema_context("t_globex"):
            assert not LlmProvider.objects.exists()
    connection.set_schema_to_public()
