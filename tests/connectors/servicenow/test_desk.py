"""The ticket page of an imported incident, as an agent uses it: the source link, the
write-backs, and undo with a reason; a write-back of another ticket is not reachable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from apps.connectors.servicenow.models import IncidentLink, WriteBack
from apps.connectors.servicenow.services import writeback_request

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def imported(snow, snow_connector, poll):
    [sys_id] = snow.seed(1, start=T0, state="2", priority="3", impact="2", urgency="2", category="inquiry")
    poll()
    return sys_id, IncidentLink.objects.select_related("ticket").get(sys_id=sys_id).ticket


def _page(client, ticket) -> str:
    response = client.get(reverse("desk:ticket", kwargs={"number": ticket.number}))
    assert response.status_code == 200
    return response.content.decode()


def test_an_agent_sees_the_source_and_undoes_a_write_back_with_a_reason(snow, imported, agent_user, web_as):
    sys_id, ticket = imported
    link = IncidentLink.objects.get(sys_id=sys_id)
    row = writeback_request(actor=agent_user, ticket=ticket, changes={"priority": "2", "work_notes": "Routed"})
    assert row.status == "sent", row.detail
    client = web_as(agent_user)
    page = _page(client, ticket)
    assert f">{link.number}</a>" in page
    assert f"incident.do%3Fsys_id%3D{sys_id}" in page  # the link goes to the incident's own page
    assert f'id="writeback-{row.pk}"' in page
    assert "Undo this write-back" in page
    url = reverse("desk:servicenow-undo", kwargs={"number": ticket.number, "writeback_id": row.pk})

    # Without a reason nothing is sent, and the page says why.
    page = client.post(url, {"reason": " "}, follow=True).content.decode()
    assert "Say why the write-back is undone." in page
    assert snow.get(sys_id)["priority"] == "2"

    page = client.post(url, {"reason": "wrong priority"}, follow=True).content.decode()
    assert f"Write-back #{row.pk}: sent." in page
    assert snow.get(sys_id)["priority"] == "3"
    row.refresh_from_db()
    assert row.status == "undone"
    assert "Undo this write-back" not in _page(client, ticket)


def test_a_write_back_of_another_ticket_cannot_be_undone_from_this_one(snow, imported, agent_user, web_as,
                                                                      requester_user):
    sys_id, ticket = imported
    row = writeback_request(actor=agent_user, ticket=ticket, changes={"priority": "2"})
    from apps.tickets import services

    other = services.ticket_create(actor=requester_user, title="Something else")
    client = web_as(agent_user)
    url = reverse("desk:servicenow-undo", kwargs={"number": other.number, "writeback_id": row.pk})
    assert client.post(url, {"reason": "x"}).status_code == 404
    assert WriteBack.objects.get(pk=row.pk).status == "sent"
    assert 'id="connected"' not in _page(client, other)  # nothing connected: no panel
