"""The tickets API over HTTP carries each ticket's SLA: agents get both clocks (due
times, state, time remaining, paused time so far); requesters get what the portal shows
them, the resolution due time and state, nothing about policies or at-risk times."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .factories import make_ticket, set_status

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)
AGENT_CLOCK_FIELDS = {
    "state", "badge", "policy", "target_seconds", "started_at", "due_at", "at_risk_at", "remaining_seconds",
    "paused", "paused_seconds", "met_at", "breached_at",
}


def _agent_block_is_right(sla: dict, created_at: str, *, now) -> None:
    created = parse_datetime(created_at)
    assert set(sla) == {"badge", "first_response", "resolution"}
    assert sla["badge"] == "on_track"
    for metric, minutes in (("first_response", 60), ("resolution", 240)):
        clock = sla[metric]
        assert set(clock) == AGENT_CLOCK_FIELDS
        assert clock["state"] == "running"
        assert clock["policy"] == "Standard"
        assert clock["target_seconds"] == minutes * 60
        assert parse_datetime(clock["due_at"]) == created + minutes * M  # 24x7 calendar
        assert parse_datetime(clock["at_risk_at"]) == created + minutes * M * 75 / 100
        left = (created + minutes * M - now).total_seconds()
        assert left - 5 <= clock["remaining_seconds"] <= left + 1
        assert (clock["paused"], clock["paused_seconds"]) == (False, 0)


def test_agents_get_the_full_sla_block_in_create_detail_and_list(api_as, agent_user, standard_policy):
    client = api_as(agent_user)
    created = client.post("/api/v1/tickets/", {"title": "VPN down", "impact": 2, "urgency": 2}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    now = timezone.now()
    _agent_block_is_right(body["sla"], body["created_at"], now=now)
    detail = client.get(f"/api/v1/tickets/{body['number']}/")
    assert detail.status_code == 200
    _agent_block_is_right(detail.json()["sla"], body["created_at"], now=now)
    listed = client.get("/api/v1/tickets/")
    assert listed.status_code == 200
    row = next(r for r in listed.json()["results"] if r["number"] == body["number"])
    _agent_block_is_right(row["sla"], body["created_at"], now=now)


def test_requesters_get_the_resolution_due_time_and_state_only(api_as, requester_user, standard_policy):
    client = api_as(requester_user)
    created = client.post("/api/v1/tickets/", {"title": "Printer jammed"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    due = parse_datetime(body["created_at"]) + 240 * M
    expected = {"resolution": {"state": "running", "due_at": due}}

    def parsed(sla):
        return {"resolution": {**sla["resolution"], "due_at": parse_datetime(sla["resolution"]["due_at"])}}

    assert parsed(body["sla"]) == expected
    detail = client.get(f"/api/v1/tickets/{body['number']}/").json()
    assert parsed(detail["sla"]) == expected
    listed = client.get("/api/v1/tickets/").json()["results"]
    assert [parsed(r["sla"]) for r in listed if r["number"] == body["number"]] == [expected]
    # Nothing about the policy, the first response target or when it is "at risk".
    text = str(detail["sla"])
    for hidden in ("Standard", "first_response", "at_risk", "badge", "target_seconds", "remaining"):
        assert hidden not in text


def test_requesters_see_breached_and_paused_and_no_sla(api_as, requester_user, standard_policy):
    from apps.sla import services

    now = timezone.now()
    overdue = make_ticket(requester=requester_user, created_at=now - 300 * M, status="open")
    services.sla_on_ticket_created(overdue)  # not swept yet: still "running" in the table
    waiting = make_ticket(requester=requester_user, created_at=now - 30 * M, status="open")
    services.sla_on_ticket_created(waiting)
    set_status(waiting, "pending", now - 20 * M)
    unmatched = make_ticket(requester=requester_user, priority="P4", status="open")
    from apps.sla.models import SlaPolicy

    assert SlaPolicy.objects.get().target_minutes("P4", "resolution") == 240
    set_status(unmatched, "cancelled", now)
    client = api_as(requester_user)
    sla = {n: client.get(f"/api/v1/tickets/{n}/").json()["sla"] for n in (overdue.number, waiting.number, unmatched.number)}
    assert sla[overdue.number]["resolution"]["state"] == "breached"
    assert parse_datetime(sla[overdue.number]["resolution"]["due_at"]) == overdue.created_at + 240 * M
    assert sla[waiting.number] == {"resolution": {"state": "paused", "due_at": None}}
    assert sla[unmatched.number] == {"resolution": None}


def test_agents_see_paused_time_so_far_while_paused(api_as, agent_user, requester_user, standard_policy):
    from apps.sla import services
    from apps.sla.models import SlaClock

    now = timezone.now()
    ticket = make_ticket(requester=requester_user, created_at=now - 30 * M, status="open")
    services.sla_on_ticket_created(ticket)
    set_status(ticket, "pending", now - 20 * M)
    assert SlaClock.objects.get(ticket=ticket, metric="resolution").paused_seconds == 0  # finished pauses only
    clock = api_as(agent_user).get(f"/api/v1/tickets/{ticket.number}/").json()["sla"]["resolution"]
    assert clock["paused"] is True
    assert 20 * 60 <= clock["paused_seconds"] <= 20 * 60 + 5  # the pause in progress counts
    assert clock["due_at"] is None
    assert clock["remaining_seconds"] == 230 * 60  # 10 of 240 minutes used before the pause
    # Resumed: the pause is finished and stored; the due time moved by it.
    set_status(ticket, "open", now)
    clock = api_as(agent_user).get(f"/api/v1/tickets/{ticket.number}/").json()["sla"]["resolution"]
    assert (clock["paused"], clock["paused_seconds"]) == (False, 20 * 60)
    assert parse_datetime(clock["due_at"]) == ticket.created_at + 260 * M


def test_the_schema_documents_both_sla_shapes(api_as, agent_user):
    schema = api_as(agent_user).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    sla = next(v for k, v in components.items() if k.startswith("Ticket") and "sla" in v.get("properties", {}))
    sla = sla["properties"]["sla"]
    assert "Requesters get the resolution due time and state only" in sla["description"]
    assert sla["readOnly"] is True
    refs = {s["$ref"].rsplit("/", 1)[1] for s in sla["anyOf"]}
    assert refs == {"TicketSla", "RequesterTicketSla"}
    assert set(components["TicketSla"]["properties"]) == {"badge", "first_response", "resolution"}
    assert set(components["RequesterTicketSla"]["properties"]) == {"resolution"}
