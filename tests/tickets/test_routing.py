"""Routing defaults: a ticket opened without a team gets its category's team (the nearest
ancestor's counts), else the tenant's default team (help-desk settings), whatever its
source. Settings and category teams are changed through services (policy, audit); a team
used as a default cannot be deleted."""

from __future__ import annotations

import pytest

from apps.accounts.models import Team
from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError
from apps.policies.services import PolicyDenied
from apps.tickets import selectors, services
from apps.tickets.models import DeskSettings, Ticket


def last_event(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("seq")


@pytest.fixture
def desk(tenant) -> Team:
    return Team.objects.get(name="Desk")


@pytest.fixture
def ops(tenant) -> Team:
    return Team.objects.get(name="Ops")


@pytest.fixture
def tree(admin_user, desk):
    """Hardware (team Desk) > Laptops (no team) > Batteries (no team); Software (no team)."""
    hardware = services.category_create(actor=admin_user, name="Hardware", default_team=desk)
    laptops = services.category_create(actor=admin_user, name="Laptops", parent=hardware)
    batteries = services.category_create(actor=admin_user, name="Batteries", parent=laptops)
    software = services.category_create(actor=admin_user, name="Software")
    return {"hardware": hardware, "laptops": laptops, "batteries": batteries, "software": software}


def portal_new(client, **fields) -> Ticket:
    data = {"title": "Laptop does not boot", "description": "", "category": "", "impact": "3", "urgency": "2", **fields}
    response = client.post("/portal/new/", data)
    assert response.status_code == 302, response.content[:3000]
    return Ticket.objects.get(number=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))


# --- The defect: a portal ticket arrived with "No team" ---------------------------------


def test_a_portal_ticket_gets_its_categorys_team(web_as, requester_user, tree, desk):
    ticket = portal_new(web_as(requester_user), category=str(tree["hardware"].pk))
    assert ticket.team == desk
    assert ticket.assignee is None


def test_a_sub_category_inherits_the_nearest_ancestors_team(web_as, requester_user, admin_user, tree, desk, ops):
    client = web_as(requester_user)
    assert portal_new(client, category=str(tree["batteries"].pk)).team == desk  # two levels up
    services.category_update(actor=admin_user, category=tree["laptops"], default_team=ops)
    assert portal_new(client, category=str(tree["batteries"].pk)).team == ops  # the nearest one wins
    assert portal_new(client, category=str(tree["hardware"].pk)).team == desk


def test_without_a_category_team_the_tenants_default_team(web_as, requester_user, admin_user, tree, ops):
    client = web_as(requester_user)
    assert portal_new(client, category=str(tree["software"].pk)).team is None  # nothing configured: as before
    services.desk_settings_update(actor=admin_user, default_team=ops)
    assert portal_new(client, category=str(tree["software"].pk)).team == ops
    assert portal_new(client).team == ops  # "I don't know": no category at all
    assert portal_new(client, category=str(tree["hardware"].pk)).team.name == "Desk"  # the category's wins


@pytest.mark.parametrize("source", ["portal", "api", "email", "servicenow"])
def test_every_source_is_routed(source, admin_user, agent_user, requester_user, tree, desk):
    ticket = services.ticket_create(actor=agent_user, requester=requester_user, title="Routed",
                                    category=tree["laptops"], source=source)
    assert ticket.team == desk
    created = last_event("ticket.created").payload_data
    assert (created["team"], created["team_from"]) == (desk.pk, "category")


def test_the_api_routes_and_the_event_carries_the_team(api_as, requester_user, tree, desk):
    from apps.events.models import OutboxEvent

    response = api_as(requester_user).post("/api/v1/tickets/", {"title": "Via API", "category": tree["batteries"].pk},
                                           format="json")
    assert response.status_code == 201, response.content
    assert response.json()["team"] == {"id": desk.pk, "name": "Desk"}
    event = OutboxEvent.objects.filter(event_type="ticket.created").latest("id")
    assert event.payload["team_id"] == desk.pk


def test_an_explicit_team_or_assignee_wins(agent_user, agent2_user, requester_user, tree, ops):
    chosen = services.ticket_create(actor=agent_user, requester=requester_user, title="Chosen", team=ops,
                                    category=tree["hardware"])
    assert chosen.team == ops
    # agent2 is not in Desk (the category's team): the chosen assignee wins, no team is forced on them
    assigned = services.ticket_create(actor=agent_user, requester=requester_user, title="Assigned",
                                      assignee=agent2_user, category=tree["hardware"])
    assert (assigned.team, assigned.assignee) == (None, agent2_user)
    # agent is in Desk: the ticket gets the team too
    member = services.ticket_create(actor=agent_user, requester=requester_user, title="Member",
                                    assignee=agent_user, category=tree["hardware"])
    assert (member.team.name, member.assignee) == ("Desk", agent_user)


def test_routing_costs_one_query(requester_user, tree, django_assert_num_queries):
    from apps.tickets.selectors import routing_team_id

    with django_assert_num_queries(1):
        assert routing_team_id(category_id=tree["batteries"].pk) == tree["hardware"].default_team_id
    with django_assert_num_queries(1):
        assert routing_team_id(category_id=None) is None


# --- Settings ---------------------------------------------------------------------------


def test_every_tenant_has_its_settings_row_with_the_defaults(tenant, other_tenant):
    from django.db import connection

    settings = selectors.desk_settings_get()
    assert (settings.default_team, settings.resolved_reply, settings.auto_close_days) == (None, "reopen", 7)
    assert DeskSettings.objects.count() == 1
    connection.set_tenant(other_tenant)
    assert DeskSettings.objects.count() == 1
    connection.set_tenant(tenant)


def test_settings_change_through_the_service_admins_only_audited(admin_user, agent_user, ops):
    with pytest.raises(PolicyDenied):
        services.desk_settings_update(actor=agent_user, auto_close_days=3)
    settings = services.desk_settings_update(actor=admin_user, default_team=ops, resolved_reply="follow_up",
                                             auto_close_days=3)
    assert (settings.default_team, settings.resolved_reply, settings.auto_close_days) == (ops, "follow_up", 3)
    event = last_event("desk_settings.changed")
    assert event.actor_id == admin_user.pk
    assert event.payload_data == {
        "default_team": {"from": None, "to": ops.pk},
        "resolved_reply": {"from": "reopen", "to": "follow_up"},
        "auto_close_days": {"from": 7, "to": 3},
    }
    for bad in ({"resolved_reply": "ignore"}, {"auto_close_days": -1}, {"auto_close_days": 10_000},
                {"default_team": 999_999}):
        with pytest.raises(ApplicationError) as info:
            services.desk_settings_update(actor=admin_user, **bad)
        assert set(info.value.errors) == set(bad), info.value.errors


def test_category_default_team_is_audited(admin_user, desk, ops):
    category = services.category_create(actor=admin_user, name="Network", default_team=desk)
    assert last_event("category.created").payload_data == {"name": "Network", "parent": None,
                                                           "default_team": desk.pk}
    services.category_update(actor=admin_user, category=category, default_team=ops)
    assert last_event("category.updated").payload_data == {"default_team": {"from": desk.pk, "to": ops.pk}}
    services.category_update(actor=admin_user, category=category, default_team=None)
    category.refresh_from_db()
    assert category.default_team is None
    with pytest.raises(ApplicationError) as info:
        services.category_update(actor=admin_user, category=category, default_team=999_999)
    assert "default_team" in info.value.errors


# --- Team deletion ----------------------------------------------------------------------


def test_a_team_used_as_a_default_cannot_be_deleted(admin_user, tree, desk, ops):
    from apps.accounts.services import team_delete

    services.desk_settings_update(actor=admin_user, default_team=ops)
    with pytest.raises(ApplicationError) as info:
        team_delete(team=desk, actor=admin_user)
    assert "default team of the category Hardware" in info.value.message
    with pytest.raises(ApplicationError) as info:
        team_delete(team=ops, actor=admin_user)
    assert "default team of the help desk" in info.value.message
    assert Team.objects.filter(pk__in=[desk.pk, ops.pk]).count() == 2
    services.desk_settings_update(actor=admin_user, default_team=None)
    team_delete(team=ops, actor=admin_user)
    assert not Team.objects.filter(pk=ops.pk).exists()


# --- Admin ------------------------------------------------------------------------------


def test_the_settings_admin_is_a_singleton_change_form_saved_through_the_service(web_as, admin_user, ops):
    client = web_as(admin_user)
    listing = client.get("/admin/tickets/desksettings/")
    row = DeskSettings.objects.get()
    assert listing.status_code == 302
    assert listing["Location"].endswith(f"/admin/tickets/desksettings/{row.pk}/change/")
    page = client.get(listing["Location"])
    assert page.status_code == 200
    assert b"auto_close_days" in page.content
    assert client.get("/admin/tickets/desksettings/add/").status_code == 403
    response = client.post(listing["Location"], {"default_team": ops.pk, "resolved_reply": "follow_up",
                                                 "auto_close_days": "14"})
    assert response.status_code == 302, response.content[:3000]
    row.refresh_from_db()
    assert (row.default_team, row.resolved_reply, row.auto_close_days) == (ops, "follow_up", 14)
    assert last_event("desk_settings.changed").actor_id == admin_user.pk
    refused = client.post(listing["Location"], {"default_team": "", "resolved_reply": "reopen",
                                                "auto_close_days": "-3"})
    assert refused.status_code == 200  # the page again, with the error
    row.refresh_from_db()
    assert row.auto_close_days == 14


def test_agents_do_not_get_the_settings_admin(web_as, agent_user):
    response = web_as(agent_user).get("/admin/tickets/desksettings/")
    assert response.status_code in (302, 403)


def test_the_category_admin_saves_the_default_team_through_the_service(web_as, admin_user, desk):
    client = web_as(admin_user)
    response = client.post("/admin/tickets/category/add/", {"name": "Printers", "parent": "",
                                                            "default_team": desk.pk})
    assert response.status_code == 302, response.content[:3000]
    category = selectors.category_list().get(name="Printers")
    assert category.default_team == desk
    assert last_event("category.created").payload_data["default_team"] == desk.pk
