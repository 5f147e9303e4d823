"""The notifications API of CONTRACT.md: the caller's own notifications (`?unread=true`),
`read/` with ids or all, and `preferences/`."""

from __future__ import annotations

from apps.notifications.models import Notification, Preference
from apps.tickets import services


def _make(tenant, agent_user, requester_user, relay, count=3):
    ticket = services.ticket_create(actor=requester_user, title="Headset")
    for i in range(count):
        services.comment_add(actor=agent_user, ticket=ticket, body=f"Update {i}")
    relay()
    return ticket


def test_the_list_is_the_callers_own_newest_first(tenant, agent_user, requester_user, requester2_user, api_as, relay):
    ticket = _make(tenant, agent_user, requester_user, relay)
    mine = api_as(requester_user).get("/api/v1/notifications/")
    assert mine.status_code == 200
    results = mine.json()["results"]
    assert [r["kind"] for r in results] == ["public_reply"] * 3
    assert all(r["ticket"] == ticket.number for r in results)
    assert results[0]["id"] > results[-1]["id"]
    assert results[0]["url"].endswith(f"/portal/tickets/{ticket.number}/")
    assert api_as(requester2_user).get("/api/v1/notifications/").json()["results"] == []  # not someone else's


def test_marking_read_by_id_and_all(tenant, agent_user, requester_user, requester2_user, api_as, relay):
    _make(tenant, agent_user, requester_user, relay)
    client = api_as(requester_user)
    ids = [r["id"] for r in client.get("/api/v1/notifications/?unread=true").json()["results"]]
    assert len(ids) == 3
    answer = client.post("/api/v1/notifications/read/", {"ids": ids[:1]}, format="json")
    assert answer.json() == {"marked": 1, "unread": 2}
    assert len(client.get("/api/v1/notifications/?unread=true").json()["results"]) == 2
    other = api_as(requester2_user).post("/api/v1/notifications/read/", {"ids": ids}, format="json")
    assert other.json()["marked"] == 0  # someone else's ids change nothing
    assert client.post("/api/v1/notifications/read/", {"all": True}, format="json").json() == {"marked": 2, "unread": 0}
    assert not Notification.objects.filter(recipient=requester_user, read_at__isnull=True).exists()


def test_marking_read_needs_ids_or_all(tenant, requester_user, api_as):
    answer = api_as(requester_user).post("/api/v1/notifications/read/", {}, format="json")
    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("application/problem+json")
    assert "ids" in answer.json()["errors"]


def test_preferences_round_trip_and_bad_input(tenant, requester_user, agent_user, api_as):
    client = api_as(requester_user)
    current = client.get("/api/v1/notifications/preferences/").json()
    assert current["channels"]["public_reply.email"] is True
    assert "sla_breached.email" not in current["channels"]  # requesters are never told of those
    assert "sla_breached.email" in api_as(agent_user).get("/api/v1/notifications/preferences/").json()["channels"]
    changed = client.patch("/api/v1/notifications/preferences/",
                           {"channels": {"public_reply.email": False}, "email_digest": "daily",
                            "quiet_from": "22:00", "quiet_until": "07:00"}, format="json")
    assert changed.status_code == 200, changed.json()
    body = changed.json()
    assert body["channels"]["public_reply.email"] is False
    assert (body["email_digest"], body["quiet_from"], body["quiet_until"]) == ("daily", "22:00:00", "07:00:00")
    assert Preference.objects.get(user=requester_user, kind="public_reply", channel="email").enabled is False
    bad = client.patch("/api/v1/notifications/preferences/", {"channels": {"nonsense.email": True}}, format="json")
    assert bad.status_code == 400
    assert "channels" in bad.json()["errors"]
    half = client.patch("/api/v1/notifications/preferences/", {"quiet_from": "22:00", "quiet_until": None},
                        format="json")
    assert half.status_code == 400
