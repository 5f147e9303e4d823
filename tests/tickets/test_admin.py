"""The tenant admin for tickets: constant-query lists, merge/archive through the services."""

from __future__ import annotations

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.tickets import services
from apps.tickets.models import Category, Tag, Ticket


def changelist_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_ticket_changelist_uses_a_constant_number_of_queries(web_as, admin_user, agent_user, make_ticket):
    category = services.category_create(actor=admin_user, name="Hardware")
    desk = agent_user.teams.get(name="Desk")
    client = web_as(admin_user)

    def add(n: int) -> None:
        for i in range(n):
            ticket = make_ticket(title=f"T{i}", category=category.pk)
            services.ticket_assign(actor=agent_user, ticket=ticket, team=desk, assignee=agent_user)

    add(2)
    few = changelist_queries(client, "/admin/tickets/ticket/")
    add(25)
    many = changelist_queries(client, "/admin/tickets/ticket/")
    assert few == many, (few, many)
    assert b"T24" in client.get("/admin/tickets/ticket/").content


def test_ticket_change_page_shows_comments_read_only_and_saves_through_services(web_as, admin_user, agent_user,
                                                                                 ticket):
    services.comment_add(actor=agent_user, ticket=ticket, body="internal hint", internal=True)
    client = web_as(admin_user)
    page = client.get(f"/admin/tickets/ticket/{ticket.pk}/change/")
    assert page.status_code == 200
    assert b"internal hint" in page.content
    start = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    response = client.post(
        f"/admin/tickets/ticket/{ticket.pk}/change/",
        {
            "title": "Renamed in admin", "description": ticket.description, "impact": 1, "urgency": 1,
            "category": "", "team": "", "assignee": "",
            "comments-TOTAL_FORMS": "1", "comments-INITIAL_FORMS": "1", "comments-MIN_NUM_FORMS": "0",
            "comments-MAX_NUM_FORMS": "1000",
            "attachments-TOTAL_FORMS": "0", "attachments-INITIAL_FORMS": "0", "attachments-MIN_NUM_FORMS": "0",
            "attachments-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    ticket.refresh_from_db()
    assert ticket.title == "Renamed in admin"
    assert ticket.priority == "P1"
    event = AuditEvent.objects.filter(action="ticket.updated").latest("seq")
    assert event.actor_id == admin_user.pk
    # The service's event only: the admin's history entry adds no generic `admin.updated`.
    actions = list(AuditEvent.objects.filter(seq__gt=start).values_list("action", flat=True))
    assert "admin.updated" not in actions, actions
    assert actions.count("ticket.updated") == 1, actions


def test_category_merge_action_with_an_intermediate_form(web_as, admin_user, make_ticket):
    old = services.category_create(actor=admin_user, name="Old printers")
    new = services.category_create(actor=admin_user, name="Printers")
    ticket = make_ticket(category=old.pk)
    client = web_as(admin_user)
    url = "/admin/tickets/category/"
    form = client.post(url, {"action": "merge_selected", ACTION_CHECKBOX_NAME: [old.pk]})
    assert form.status_code == 200
    assert b"Merge into" in form.content
    done = client.post(url, {"action": "merge_selected", ACTION_CHECKBOX_NAME: [old.pk], "apply": "1",
                             "target": new.pk})
    assert done.status_code == 302
    ticket.refresh_from_db()
    assert ticket.category_id == new.pk
    assert Category.objects.get(pk=old.pk).archived
    assert AuditEvent.objects.filter(action="category.merged").exists()


def test_category_archive_action_and_list_queries(web_as, admin_user):
    root = services.category_create(actor=admin_user, name="Network")
    services.category_create(actor=admin_user, name="VPN", parent=root)
    client = web_as(admin_user)
    few = changelist_queries(client, "/admin/tickets/category/")
    for i in range(15):
        services.category_create(actor=admin_user, name=f"C{i}", parent=root)
    assert changelist_queries(client, "/admin/tickets/category/") == few
    client.post("/admin/tickets/category/", {"action": "archive_selected", ACTION_CHECKBOX_NAME: [root.pk]})
    assert Category.objects.filter(archived=False).count() == 0


def test_agents_cannot_use_the_admin(web_as, agent_user):
    assert web_as(agent_user).get("/admin/tickets/ticket/").status_code == 302


def test_tickets_cannot_be_added_or_deleted_in_admin(web_as, admin_user, ticket):
    client = web_as(admin_user)
    assert client.get("/admin/tickets/ticket/add/").status_code == 403
    assert client.get(f"/admin/tickets/ticket/{ticket.pk}/delete/").status_code == 403
    assert Ticket.objects.filter(pk=ticket.pk).exists()


def test_priority_matrix_admin_saves_through_the_service(web_as, admin_user):
    from apps.tickets.selectors import priority_matrix_get

    def grid(matrix) -> dict:  # the admin's impact x urgency selects (tests/admin/test_priority_matrix.py)
        return {f"matrix_{i}_{u}": priority for i, row in matrix.items() for u, priority in row.items()}

    client = web_as(admin_user)
    matrix = priority_matrix_get()
    matrix["3"]["3"] = "P3"
    assert client.post("/admin/tickets/prioritymatrix/add/", grid(matrix)).status_code == 302
    assert priority_matrix_get()["3"]["3"] == "P3"
    assert AuditEvent.objects.filter(action="priority_matrix.changed").exists()
    bad = client.post("/admin/tickets/prioritymatrix/add/", {**grid(matrix), "matrix_1_1": "P7"})
    assert bad.status_code in (200, 403)  # the form error, or no second row may be added
    assert priority_matrix_get()["3"]["3"] == "P3"


# --- Adds and changes go through the services; refusals are form errors -----------------


def _refused(response) -> str:
    """The page shown again with errors (not a redirect claiming success)."""
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    assert "errorlist" in html or "errornote" in html
    assert "successfully" not in html
    return html


def test_category_add_goes_through_the_service(web_as, admin_user):
    client = web_as(admin_user)
    response = client.post("/admin/tickets/category/add/", {"name": "  Network  ", "parent": ""})
    assert response.status_code == 302, response.content[:2000]
    category = Category.objects.get(name="Network")
    event = AuditEvent.objects.filter(action="category.created").latest("seq")
    assert event.actor_id == admin_user.pk
    assert event.payload_data["name"] == "Network"
    child = client.post("/admin/tickets/category/add/", {"name": "VPN", "parent": category.pk})
    assert child.status_code == 302
    assert Category.objects.get(name="VPN").parent_id == category.pk


def test_category_add_refusals_are_form_errors_and_store_nothing(web_as, admin_user):
    services.category_create(actor=admin_user, name="Hardware")
    archived = services.category_create(actor=admin_user, name="Old")
    services.category_archive(actor=admin_user, category=archived)
    client = web_as(admin_user)
    before = set(Category.objects.values_list("pk", flat=True))
    events = AuditEvent.objects.count()
    for data, text in (
        ({"name": "Bell\x07", "parent": ""}, "control character"),
        ({"name": "hardware", "parent": ""}, "already exists"),
        ({"name": "Under old", "parent": archived.pk}, "archived"),
    ):
        html = _refused(client.post("/admin/tickets/category/add/", data))
        assert text in html, (data, html[:3000])
    assert set(Category.objects.values_list("pk", flat=True)) == before
    assert AuditEvent.objects.count() == events


def test_category_change_renames_and_moves_through_the_service(web_as, admin_user):
    root = services.category_create(actor=admin_user, name="Hardware")
    other = services.category_create(actor=admin_user, name="Facilities")
    child = services.category_create(actor=admin_user, name="Printers", parent=root)
    client = web_as(admin_user)
    url = f"/admin/tickets/category/{child.pk}/change/"
    assert client.post(url, {"name": "Printers and copiers", "parent": other.pk}).status_code == 302
    child.refresh_from_db()
    assert (child.name, child.parent_id) == ("Printers and copiers", other.pk)
    event = AuditEvent.objects.filter(action="category.updated").latest("seq")
    assert event.payload_data == {"name": {"from": "Printers", "to": "Printers and copiers"},
                             "parent": {"from": root.pk, "to": other.pk}}


def test_category_change_refuses_loops_and_archived_parents(web_as, admin_user):
    root = services.category_create(actor=admin_user, name="Hardware")
    child = services.category_create(actor=admin_user, name="Printers", parent=root)
    grandchild = services.category_create(actor=admin_user, name="Toner", parent=child)
    old = services.category_create(actor=admin_user, name="Old")
    services.category_archive(actor=admin_user, category=old)
    client = web_as(admin_user)
    url = f"/admin/tickets/category/{root.pk}/change/"
    for parent, text in ((root.pk, "own parent"), (child.pk, "lies inside"), (grandchild.pk, "lies inside"),
                         (old.pk, "archived")):
        html = _refused(client.post(url, {"name": "Hardware", "parent": parent}))
        assert text in html, (parent, html[:3000])
    root.refresh_from_db()
    assert root.parent_id is None
    assert not AuditEvent.objects.filter(action="category.updated").exists()


def test_tags_are_added_and_renamed_through_services(web_as, admin_user):
    client = web_as(admin_user)
    assert client.post("/admin/tickets/tag/add/", {"name": "vip"}).status_code == 302
    tag = Tag.objects.get(name="vip")
    assert AuditEvent.objects.filter(action="tag.created").latest("seq").payload_data == {"name": "vip"}
    assert client.post(f"/admin/tickets/tag/{tag.pk}/change/", {"name": "VIP customer"}).status_code == 302
    renamed = AuditEvent.objects.filter(action="tag.renamed").latest("seq")
    assert renamed.payload_data == {"from": "vip", "to": "VIP customer"}
    services.tag_create(actor=admin_user, name="network")
    client.get("/admin/")  # shows (and so drops) the success messages of the saves above
    for url, name, text in (
        ("/admin/tickets/tag/add/", "NETWORK", "already exists"),
        ("/admin/tickets/tag/add/", "tab\x0bbed", "control character"),
        (f"/admin/tickets/tag/{tag.pk}/change/", "Network", "already exists"),
    ):
        assert text in _refused(client.post(url, {"name": name}))
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["VIP customer", "network"]


def test_a_policy_denial_is_a_form_error_and_nothing_is_claimed(web_as, admin_user):
    from apps.policies.models import PolicySet
    from apps.policies.services import policy_publish

    rules = PolicySet.objects.get().current_version.rules
    deny = {"name": "tags frozen", "subject": "*", "action": "tag.manage", "effect": "deny", "priority": 100}
    policy_publish(actor=admin_user, rules=[*rules, deny])
    html = _refused(web_as(admin_user).post("/admin/tickets/tag/add/", {"name": "blocked"}))
    assert "tags frozen" in html or "not allowed" in html.lower() or "denied" in html.lower(), html[:3000]
    assert not Tag.objects.filter(name="blocked").exists()


def test_ticket_change_refused_by_a_service_claims_nothing(web_as, admin_user, agent2_user, agent_user, ticket):
    desk = agent_user.teams.get(name="Desk")  # agent2 is not in Desk
    client = web_as(admin_user)
    response = client.post(
        f"/admin/tickets/ticket/{ticket.pk}/change/",
        {"title": "Renamed", "description": ticket.description, "impact": 2, "urgency": 2, "category": "",
         "team": desk.pk, "assignee": agent2_user.pk},
    )
    html = _refused(response)
    assert "not a member of the team" in html
    ticket.refresh_from_db()
    # The title change and the assignment ran in one transaction: neither is kept.
    assert (ticket.title, ticket.team_id, ticket.assignee_id) == ("Printer on floor 2 is jammed", None, None)
    assert not AuditEvent.objects.filter(action="ticket.updated").exists()


def test_ticket_change_of_a_closed_ticket_is_a_form_error(web_as, admin_user, agent_user, ticket):
    services.ticket_transition(actor=agent_user, ticket=ticket, to="cancelled", reason="Duplicate")
    html = _refused(web_as(admin_user).post(
        f"/admin/tickets/ticket/{ticket.pk}/change/",
        {"title": "Too late", "description": ticket.description, "impact": 2, "urgency": 2, "category": "",
         "team": "", "assignee": ""},
    ))
    assert "can no longer be changed" in html
    ticket.refresh_from_db()
    assert ticket.title != "Too late"


# --- Constant queries on the other list pages of the tenant admin ------------------------


def test_tag_changelist_uses_a_constant_number_of_queries(web_as, admin_user, agent_user, make_ticket):
    client = web_as(admin_user)
    services.tag_create(actor=admin_user, name="t0")
    make_ticket(tags=["t0"])
    few = changelist_queries(client, "/admin/tickets/tag/")
    for i in range(1, 20):
        services.tag_create(actor=admin_user, name=f"t{i}")
        make_ticket(title=f"Tagged {i}", tags=[f"t{i}", "t0"])
    assert changelist_queries(client, "/admin/tickets/tag/") == few
    assert b"t19" in client.get("/admin/tickets/tag/").content


def test_team_changelist_uses_a_constant_number_of_queries(web_as, admin_user, agent_user, agent2_user):
    from apps.accounts.services import team_add_member, team_create

    client = web_as(admin_user)
    few = changelist_queries(client, "/admin/accounts/team/")
    for i in range(15):
        team = team_create(name=f"Team {i}", lead=agent_user if i % 2 else agent2_user, actor=admin_user)
        team_add_member(team=team, user=agent2_user, actor=admin_user)
    assert changelist_queries(client, "/admin/accounts/team/") == few
    assert b"Team 14" in client.get("/admin/accounts/team/").content


def test_user_changelist_uses_a_constant_number_of_queries(web_as, admin_user):
    from apps.accounts.models import Role
    from apps.accounts.services import user_create

    client = web_as(admin_user)
    few = changelist_queries(client, "/admin/accounts/user/")
    for i in range(20):
        user_create(email=f"listed{i}@alpha.test", role=Role.AGENT if i % 2 else Role.REQUESTER, validate=False)
    assert changelist_queries(client, "/admin/accounts/user/") == few
    assert b"listed19@alpha.test" in client.get("/admin/accounts/user/").content
