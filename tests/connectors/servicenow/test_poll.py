"""The incremental poll against the fake ServiceNow over real HTTP: import, paging, the
overlap window, the watermark, failures, the circuit, changes applied, isolation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from apps.audit.models import AuditEvent
from apps.connectors import breaker
from apps.connectors.servicenow.models import IncidentLink, SyncState
from apps.events.models import OutboxEvent
from apps.tickets.models import Ticket
from fakes.servicenow import Fault

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _links():
    return {link.sys_id: link for link in IncidentLink.objects.select_related("ticket")}


def _state(connector):
    return SyncState.objects.get(connector=connector)


def test_first_poll_imports_every_incident_as_a_metadata_only_ticket(snow, snow_connector, poll, requester_user):
    caller = snow.add_user(requester_user.email)
    [known, unknown] = snow.seed(2, start=T0, step_seconds=60, groups=("Desk",))
    snow.change(known, at=T0 + timedelta(minutes=5), caller_id=caller, state="2", impact="1", urgency="3",
                short_description="Printer on fire", description="Smoke everywhere")
    result = poll()
    assert result.ok
    assert not result.more
    assert (result.imported, result.updated, result.pages) == (2, 0, 1)
    links = _links()
    ticket = links[known].ticket
    assert ticket.source == "servicenow"
    assert ticket.title == links[known].number  # metadata only: the number, no text
    assert ticket.description == ""
    assert (ticket.status, ticket.impact, ticket.urgency) == ("open", 1, 3)
    assert ticket.requester_id == requester_user.pk  # the caller, by email
    assert ticket.team.name == "Desk"  # the assignment group, by name
    stored = links[known].snapshot
    assert "short_description" not in stored
    assert "description" not in stored
    assert "Printer" not in str(stored)
    assert "Smoke" not in str(stored)
    assert links[known].sys_mod_count == 1
    # The incident without a known caller is requested by the connector's integration user.
    other = links[unknown].ticket
    assert other.requester.email == "servicenow-snow@connectors.warden.invalid"
    assert not other.requester.has_usable_password()
    # Metadata only is also what was asked for: the text fields were never requested.
    asked = snow.requests[0].query["sysparm_fields"].split(",")
    assert "short_description" not in asked
    assert "description" not in asked
    # Governed like any ticket write: one audit event and one domain event for the batch.
    imported = AuditEvent.objects.get(action="ticket.imported")
    assert b'"origin":"snow"' in bytes(imported.payload)
    assert OutboxEvent.objects.filter(event_type="ticket.imported").count() == 1
    assert _state(snow_connector).watermark == T0 + timedelta(minutes=5)
    snow_connector.refresh_from_db()
    assert snow_connector.last_sync_at is not None


def test_full_content_tenants_store_the_text(full_content, snow, snow_connector, poll):
    [sys_id] = snow.seed(1, start=T0, short_description="VPN down", description="Since 9:00 **nobody** connects")
    poll()
    link = IncidentLink.objects.get(sys_id=sys_id)
    assert link.ticket.title == f"{link.number}: VPN down"
    assert link.ticket.description == "Since 9:00 **nobody** connects"
    assert link.snapshot["short_description"] == "VPN down"
    assert "description" in snow.requests[0].query["sysparm_fields"].split(",")


def test_paging_through_many_pages_follows_the_link_header(snow, snow_connector, poll):
    snow.seed(57, start=T0, step_seconds=1)
    result = poll()
    assert result.ok
    assert (result.pages, result.fetched, result.imported) == (6, 57, 57)
    offsets = [int(r.query["sysparm_offset"]) for r in snow.requests]
    assert offsets == [0, 10, 20, 30, 40, 50]
    assert all(r.query["sysparm_limit"] == "10" for r in snow.requests)
    query = snow.requests[0].query["sysparm_query"]
    assert query.startswith("sys_updated_on<")
    assert query.endswith("^ORDERBYsys_updated_on^ORDERBYsys_id")
    assert Ticket.objects.filter(source="servicenow").count() == 57
    assert IncidentLink.objects.count() == 57


def test_the_overlap_window_rereads_but_never_duplicates(snow, snow_connector, poll, settings):
    settings.WARDEN_SERVICENOW_OVERLAP_SECONDS = 600
    ids = snow.seed(5, start=T0, step_seconds=60)
    poll()
    tickets_before = Ticket.objects.count()
    snow.change(ids[4], at=T0 + timedelta(minutes=6), urgency="1")  # changed after the watermark
    snow.requests.clear()
    result = poll()
    query = snow.requests[0].query["sysparm_query"]
    assert query.startswith("sys_updated_on>=2026-11-02 07:54:00^")  # the watermark (08:04) minus 10 minutes
    assert result.fetched == 5  # everything in the window is read again
    assert (result.imported, result.updated, result.unchanged) == (0, 1, 4)
    assert Ticket.objects.count() == tickets_before
    assert IncidentLink.objects.get(sys_id=ids[4]).ticket.urgency == 1
    # Read yet again: nothing changes, nothing is applied twice.
    assert AuditEvent.objects.filter(action="ticket.synced").count() == 1
    again = poll()
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 5)
    assert AuditEvent.objects.filter(action="ticket.synced").count() == 1


def test_429_then_503_then_timeouts_hold_the_watermark_and_recovery_imports_each_change_once(
        snow, snow_connector, poll, slept):
    ids = snow.seed(12, start=T0, step_seconds=60)
    assert poll().imported == 12
    watermark = _state(snow_connector).watermark
    for sys_id in ids[:3]:
        snow.change(sys_id, at=T0 + timedelta(hours=1), urgency="3")  # seeded with urgency 1
    snow.create(at=T0 + timedelta(hours=1), state="2")  # and a new incident
    slept.clear()
    snow.requests.clear()
    snow.fail_next(Fault(429, retry_after=2), Fault(503), Fault(delay=1.0), Fault(delay=1.0))
    failed = poll()
    assert failed.error
    assert failed.error_code == "read_timeout"
    assert len(snow.requests) == 4
    assert slept[0] == 2.0  # Retry-After honoured exactly, then jittered backoff
    assert len(slept) == 3
    assert breaker.is_open(snow_connector.pk)
    assert _state(snow_connector).watermark == watermark  # held
    assert (Ticket.objects.count(), failed.imported, failed.updated) == (12, 0, 0)
    # While the circuit is open, a poll sends nothing.
    blocked = poll()
    assert blocked.error_code == "circuit_open"
    assert len(snow.requests) == 4
    assert _state(snow_connector).watermark == watermark
    # After the cool-down the service has recovered: every change is imported, once.
    state = breaker.load(snow_connector.pk)
    breaker.store(snow_connector.pk, breaker.BreakerState(failures=state.failures, opened_until=0))
    recovered = poll()
    assert recovered.ok
    assert (recovered.imported, recovered.updated) == (1, 3)
    assert Ticket.objects.count() == 13
    assert sorted(IncidentLink.objects.filter(sys_id__in=ids[:3]).values_list("ticket__urgency", flat=True)) == [3, 3, 3]
    assert _state(snow_connector).watermark == T0 + timedelta(hours=1)
    synced = AuditEvent.objects.get(action="ticket.synced")  # one governed batch for the page's changes
    assert json.loads(bytes(synced.payload))["count"] == 3
    assert poll().updated == 0  # and not again
    assert AuditEvent.objects.filter(action="ticket.synced").count() == 1


def test_a_failure_after_some_pages_keeps_what_was_committed(snow, snow_connector, poll, settings):
    settings.WARDEN_CONNECTORS_MAX_ATTEMPTS = 1
    snow.seed(25, start=T0, step_seconds=60)
    original = snow.handle_table
    calls = []

    def second_page_fails(method, path, query, headers, body, base):
        calls.append(query.get("sysparm_offset"))
        if query.get("sysparm_offset") == "10":
            return 503, {}, {"error": {"message": "down", "detail": ""}, "status": "failure"}
        return original(method, path, query, headers, body, base)

    snow.handle_table = second_page_fails
    result = poll()
    assert result.error
    assert result.imported == 10
    assert _state(snow_connector).watermark == T0 + timedelta(minutes=9)  # the first page's last record
    snow.handle_table = original
    breaker.reset(snow_connector.pk)
    assert poll().imported == 15
    assert Ticket.objects.count() == 25


def test_records_leaving_the_range_while_paging_stop_the_run_before_a_page_could_skip(snow, snow_connector, poll):
    ids = snow.seed(30, start=T0, step_seconds=60)
    original = snow.handle_table

    def change_during_paging(method, path, query, headers, body, base):
        if query.get("sysparm_offset") == "10":
            snow.change(ids[0])  # updated now: leaves the range, everything after it shifts by one
        return original(method, path, query, headers, body, base)

    snow.handle_table = change_during_paging
    result = poll()
    snow.handle_table = original
    assert result.ok
    assert result.more
    assert result.stopped == "shifted"
    assert result.imported == 10
    assert _state(snow_connector).watermark == T0 + timedelta(minutes=9)
    rest = poll()
    assert rest.ok
    assert not rest.more
    assert IncidentLink.objects.count() == 30  # nobody skipped
    assert Ticket.objects.count() == 30


def test_changes_in_servicenow_move_the_ticket_through_the_tickets_services(snow, snow_connector, poll, agent_user):
    from apps.accounts.models import Team

    snow.add_group("Ops")
    [sys_id] = snow.seed(1, start=T0, state="2", impact="2", urgency="2", groups=("Desk",))
    poll()
    ops = Team.objects.get(name="Ops")
    ops_group = next(g for g, row in snow.tables["sys_user_group"].items() if row["name"] == "Ops")
    snow.change(sys_id, at=T0 + timedelta(minutes=1), state="6", urgency="1", assignment_group=ops_group,
                close_code="Solved (Work Around)")
    result = poll()
    assert (result.updated, result.not_applied) == (1, 0), result.notes
    ticket = IncidentLink.objects.get(sys_id=sys_id).ticket
    assert (ticket.status, ticket.urgency, ticket.team_id) == ("resolved", 1, ops.pk)
    assert ticket.resolution_code == "workaround"
    assert AuditEvent.objects.filter(action="ticket.transitioned", target_id=str(ticket.pk)).exists()
    # Closed in ServiceNow; then reopened there: the workflow allows neither closed -> open,
    # which is noted on the link, nothing else breaks.
    snow.change(sys_id, at=T0 + timedelta(minutes=2), state="7")
    poll()
    ticket.refresh_from_db()
    assert ticket.status == "closed"
    snow.change(sys_id, at=T0 + timedelta(minutes=3), state="2")
    reopened = poll()
    assert reopened.not_applied == 1
    assert "not applied" in IncidentLink.objects.get(sys_id=sys_id).sync_note


def test_one_poll_at_a_time_per_connector(snow, snow_connector, poll):
    from django.utils import timezone

    snow.seed(3, start=T0)
    SyncState.objects.update_or_create(connector=snow_connector,
                                       defaults={"lease_until": timezone.now() + timedelta(minutes=5),
                                                 "lease_owner": "another"})
    assert poll().skipped == "busy"
    assert snow.requests == []


def test_one_tenants_sync_never_touches_another_tenants_tickets(snow, loopback, fast, tenant, other_tenant,
                                                                admin_user):
    from django.db import connection

    from apps.accounts.models import User
    from apps.connectors.servicenow.services import servicenow_poll
    from apps.connectors.services.connectors import connector_create
    from tests.connectors.conftest import SECRET

    snow.seed(4, start=T0)
    alpha = connector_create(actor=admin_user, kind="servicenow", name="snow", base_url=snow.url, secret=SECRET,
                             dry_run=False)
    breaker.reset(alpha.pk)
    connection.set_tenant(other_tenant)
    try:
        beta_admin = User.objects.get(email="admin@beta.test")
        beta = connector_create(actor=beta_admin, kind="servicenow", name="snow", base_url=snow.url, secret=SECRET,
                                dry_run=False)
        breaker.reset(beta.pk)
        beta_tickets = set(Ticket.objects.values_list("pk", "updated_at"))
    finally:
        connection.set_tenant(tenant)
    assert servicenow_poll(connector=alpha).imported == 4
    assert IncidentLink.objects.count() == 4
    connection.set_tenant(other_tenant)
    try:
        assert set(Ticket.objects.values_list("pk", "updated_at")) == beta_tickets
        assert IncidentLink.objects.count() == 0
        assert SyncState.objects.filter(watermark__isnull=False).count() == 0
        assert servicenow_poll(connector=beta).imported == 4  # its own copies, in its own schema
        assert IncidentLink.objects.count() == 4
    finally:
        connection.set_tenant(tenant)
    assert IncidentLink.objects.count() == 4
    assert Ticket.objects.filter(source="servicenow").count() == 4


def test_an_incident_warden_cannot_take_is_skipped_and_noted_the_rest_imported(snow, snow_connector, poll,
                                                                               monkeypatch):
    from apps.connectors.servicenow import mapping

    ids = snow.seed(3, start=T0, step_seconds=60)
    bad = snow.get(ids[1])["number"]
    title = mapping.ticket_title
    monkeypatch.setattr(mapping, "ticket_title", lambda incident: "" if incident.number == bad else title(incident))
    result = poll()
    assert result.ok
    assert (result.imported, result.invalid) == (2, 1)
    assert any(note.startswith(f"{bad} not imported") for note in result.notes)
    assert _state(snow_connector).watermark == T0 + timedelta(minutes=2)


def test_a_policy_refusing_imports_stops_the_poll_and_holds_the_watermark(snow, snow_connector, poll, admin_user):
    from apps.policies.baseline import BASELINE_RULES
    from apps.policies.services import policy_publish

    rules = [rule for rule in BASELINE_RULES if rule["name"] != "system may do everything"]
    rules.append({"name": "system may not open tickets", "subject": "system", "action": "ticket.create",
                  "effect": "deny", "priority": 5})
    rules.append({"name": "system may do the rest", "subject": "system", "action": "*", "effect": "allow",
                  "priority": 0})
    policy_publish(actor=admin_user, rules=rules, comment="no imports")
    snow.seed(3, start=T0)
    result = poll()
    assert result.error_code == "denied"
    assert "system may not open tickets" in result.error
    assert Ticket.objects.filter(source="servicenow").count() == 0
    assert _state(snow_connector).watermark is None
