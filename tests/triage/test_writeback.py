"""An approved proposal for a ticket imported from ServiceNow is written back to the
incident (the fake Table API on 127.0.0.1) through the connectors' governed write-back,
and the outcome is kept on the proposal: sent, capped, dry run, not linked."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.connectors import breaker
from apps.connectors.servicenow.models import IncidentLink, WriteBack
from apps.connectors.servicenow.services import servicenow_poll
from apps.triage import services
from apps.triage.models import Proposal
from fakes.servicenow import FakeServiceNow
from tests.connectors.conftest import SECRET, fake_dns, loopback, make_connector  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def snow(loopback):  # noqa: F811 - the fixture of that name
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
    from apps.tickets.services import category_create
    from apps.triage.models import Rule

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


def _group(snow, name):
    return next(g for g, row in snow.tables["sys_user_group"].items() if row["name"] == name)


def test_an_approved_proposal_lands_on_the_incident_with_its_undo_record(snow, routed, agent_user, relay):
    snow.add_group("Database")
    sys_id, ticket, proposal = routed()
    assert proposal.changes["urgency"] == 1
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    record = snow.get(sys_id)
    assert (record["category"], record["urgency"], record["assignment_group"]) == (
        "Network", "1", _group(snow, "Database"))
    assert snow.journal(sys_id)[-1]["value"] == "Routed by Warden triage."
    proposal.refresh_from_db()
    assert proposal.writeback_status == "sent", proposal.writeback_detail
    row = WriteBack.objects.get(pk=proposal.writeback_id)
    assert row.approved_by_label == agent_user.email
    assert row.prior_values["urgency"] == "2"  # what the undo puts back
    actions = list(AuditEvent.objects.filter(action__in=["triage.proposal_approved", "servicenow.writeback_sent",
                                                         "triage.written_back"]).order_by("seq")
                   .values_list("action", flat=True))
    assert actions == ["triage.proposal_approved", "servicenow.writeback_sent", "triage.written_back"]
    # The event redelivered: written once.
    assert services.proposal_write_back(proposal_id=proposal.pk) == "sent"
    assert len([r for r in snow.requests if r.method == "PATCH"]) == 1


def test_a_team_with_no_servicenow_group_is_not_guessed(snow, routed, agent_user, relay):
    sys_id, ticket, proposal = routed()  # no group named Database in the fake
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    proposal.refresh_from_db()
    assert proposal.writeback_status == "sent"
    assert "no ServiceNow group is named 'Database'" in proposal.writeback_detail
    assert snow.get(sys_id)["urgency"] == "1"


def test_the_daily_cap_reached_writes_nothing_and_the_proposal_says_why(snow, routed, agent_user, relay):
    sys_id, ticket, proposal = routed(daily_write_cap=0)
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    proposal.refresh_from_db()
    assert proposal.writeback_status == "capped"
    assert "daily write cap (0)" in proposal.writeback_detail
    assert snow.get(sys_id)["urgency"] == "2"
    assert not [r for r in snow.requests if r.method == "PATCH"]


def test_a_dry_run_connector_records_what_it_would_write(snow, routed, agent_user, relay):
    sys_id, ticket, proposal = routed(dry_run=True)
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    proposal.refresh_from_db()
    assert proposal.writeback_status == "dry_run"
    assert snow.get(sys_id)["urgency"] == "2"


def test_a_ticket_from_here_has_nothing_to_write_back(make_rule, new_ticket, agent_user, relay):
    make_rule()
    ticket = new_ticket()
    relay()
    proposal = Proposal.objects.get(ticket=ticket)
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    proposal.refresh_from_db()
    assert proposal.writeback_status == "not_linked"
