"""Fixtures of the triage tests: categories, a rule, a ticket to route."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.connectors.conftest import SECRET, fake_dns, loopback, make_connector  # noqa: F401 - fixtures

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def categories(tenant, admin_user):
    from apps.tickets import services

    hardware = services.category_create(actor=admin_user, name="Hardware")
    printers = services.category_create(actor=admin_user, name="Printers", parent=hardware)
    network = services.category_create(actor=admin_user, name="Network")
    return {"hardware": hardware, "printers": printers, "network": network}


@pytest.fixture
def ops(tenant):
    from apps.accounts.models import Team

    return Team.objects.get(name="Ops")


@pytest.fixture
def make_rule(admin_user, categories, ops):
    from apps.triage.models import Rule
    from apps.triage.services import rule_save

    def make(**values):
        values = {"name": "Printers to Ops", "keywords": "printer, toner", "set_category": categories["printers"],
                  "set_team": ops, "set_impact": 2, "set_urgency": 1, "work_note": "Routed to Ops by the printer rule.",
                  "confidence": Decimal("0.90"), **values}
        return rule_save(actor=admin_user, rule=Rule(**values))

    return make


@pytest.fixture
def new_ticket(requester_user):
    from apps.tickets import services

    def make(title="The printer on floor 2 is out of toner", **values):
        return services.ticket_create(actor=requester_user, title=title, **values)

    return make


@pytest.fixture
def relay(relay):
    """The outbox relay, then what the `triage.run_advance` tasks sent after its commits
    would do (in a test's transaction nothing commits): the sweep advances every run that
    is due, until neither has anything left."""
    from apps.triage.services.runs import run_sweep

    def run(rounds: int = 10) -> int:
        delivered = 0
        for _ in range(rounds):
            now_delivered = relay(rounds)
            swept = run_sweep()
            delivered += now_delivered
            if not now_delivered and not swept["advanced"] and not swept["resumed"]:
                break
        return delivered

    return run


@pytest.fixture
def snow(loopback):  # noqa: F811 - the fixture of that name
    from fakes.servicenow import FakeServiceNow

    loopback.WARDEN_CONNECTORS_READ_TIMEOUT = 2
    loopback.WARDEN_CONNECTORS_MAX_ATTEMPTS = 2
    with FakeServiceNow(token=SECRET) as fake:
        yield fake


@pytest.fixture
def routed(snow, make_connector, admin_user, relay):  # noqa: F811
    """`routed(**connector_options)`: (fake record id, ticket, waiting proposal) for one
    incident imported through a connector to the fake; a rule for ServiceNow tickets
    proposes category Network, team Database, urgency 1 and a work note."""
    from apps.accounts.services import team_create
    from apps.connectors import breaker
    from apps.connectors.servicenow.models import IncidentLink
    from apps.connectors.servicenow.services import servicenow_poll
    from apps.tickets.services import category_create
    from apps.triage import services
    from apps.triage.models import Proposal, Rule

    network = category_create(actor=admin_user, name="Network")
    database = team_create(name="Database", actor=admin_user)
    services.rule_save(actor=admin_user, rule=Rule(
        name="ServiceNow incidents", source="servicenow", set_category=network, set_team=database, set_urgency=1,
        work_note="Routed by Warden triage.", confidence=Decimal("0.9")))

    def make(**options):
        connector = make_connector(name="snow", base_url=snow.url, **options)
        breaker.reset(connector.pk)
        [sys_id] = snow.seed(1, start=T0, state="2", impact="2", urgency="2", category="inquiry",
                             groups=("Service Desk",))
        servicenow_poll(connector=connector, sleep=lambda s: None)
        relay()
        ticket = IncidentLink.objects.get(sys_id=sys_id).ticket
        return sys_id, ticket, Proposal.objects.get(ticket=ticket)

    return make
