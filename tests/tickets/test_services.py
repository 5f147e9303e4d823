"""Services: every write is policy-checked, validated, audited in its transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError, Conflict, PermissionDenied
from apps.policies.services import PolicyDenied
from apps.tickets import selectors, services
from apps.tickets.errors import CooldownActive
from apps.tickets.models import Category, Tag, Ticket, TicketComment


def last_event(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("seq")


# --- Create -------------------------------------------------------------------------------


def test_create_numbers_are_sequential_and_audited(make_ticket, requester_user):
    first = make_ticket()
    second = make_ticket(title="Second")
    assert second.number == first.number + 1
    assert first.status == "new"
    assert first.priority == "P3"
    assert first.source == "portal"
    event = last_event("ticket.created")
    assert event.target_id == str(second.pk)
    assert event.actor_id == requester_user.pk
    assert event.payload_data["number"] == second.number


def test_a_rolled_back_create_gives_its_number_back(make_ticket):
    first = make_ticket()
    with pytest.raises(ApplicationError):
        services.ticket_create(actor=first.requester, title="bad\x00title")
    assert make_ticket().number == first.number + 1


def test_create_checks_input(requester_user, agent_user):
    cases = [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"title": "ok", "description": "bell\x07"}, "description"),
        ({"title": "ok", "description": "x" * (50 * 1024 + 1)}, "description"),
        ({"title": "ok", "impact": 4}, "impact"),
        ({"title": "ok", "urgency": 0}, "urgency"),
        ({"title": "ok", "tags": ["nope"]}, "tags"),
        ({"title": "ok", "category": 999_999}, "category"),
    ]
    for fields, field in cases:
        with pytest.raises(ApplicationError) as info:
            services.ticket_create(actor=requester_user, **fields)
        assert field in info.value.errors, (fields, info.value.errors)
    assert not Ticket.objects.exists()


def test_only_agents_open_tickets_for_others_or_set_the_team(requester_user, requester2_user, agent_user):
    with pytest.raises(PermissionDenied):
        services.ticket_create(actor=requester_user, requester=requester2_user, title="For you")
    desk = agent_user.teams.get(name="Desk")
    with pytest.raises(PermissionDenied):
        services.ticket_create(actor=requester_user, title="Pick a team", team=desk)
    ticket = services.ticket_create(
        actor=agent_user, requester=requester2_user, title="Phoned in", team=desk, assignee=agent_user, impact=1, urgency=1
    )
    assert ticket.requester == requester2_user
    assert ticket.assignee == agent_user
    assert ticket.priority == "P1"


def test_archived_category_takes_no_tickets(admin_user, requester_user):
    hardware = services.category_create(actor=admin_user, name="Hardware")
    services.category_archive(actor=admin_user, category=hardware)
    with pytest.raises(ApplicationError) as info:
        services.ticket_create(actor=requester_user, title="x", category=hardware.pk)
    assert "archived" in info.value.errors["category"][0]


# --- Update and priority --------------------------------------------------------------------


def test_update_recomputes_priority_with_the_tenant_matrix(ticket, agent_user, admin_user):
    ticket = services.ticket_update(actor=agent_user, ticket=ticket, impact=1, urgency=2)
    assert ticket.priority == "P2"
    matrix = selectors.priority_matrix_get()
    matrix["1"]["2"] = "P1"
    services.priority_matrix_set(actor=admin_user, matrix=matrix)
    ticket = services.ticket_update(actor=agent_user, ticket=ticket, urgency=1)
    assert ticket.priority == "P1"
    ticket = services.ticket_update(actor=agent_user, ticket=ticket, urgency=2)
    assert ticket.priority == "P1"  # the tenant's own matrix
    event = last_event("ticket.updated")
    assert event.payload_data["priority"] == {"from": "P1", "to": "P1"} or "priority" in event.payload_data


def test_priority_matrix_is_admin_only_and_validated(agent_user, admin_user):
    with pytest.raises(PolicyDenied):
        services.priority_matrix_set(actor=agent_user, matrix=selectors.priority_matrix_get())
    with pytest.raises(ApplicationError) as info:
        services.priority_matrix_set(actor=admin_user, matrix={"1": {"1": "P0"}})
    assert "matrix.1.1" in info.value.errors


def test_requesters_cannot_update_tickets(ticket, requester_user):
    with pytest.raises(PolicyDenied):
        services.ticket_update(actor=requester_user, ticket=ticket, title="Mine now")


def test_update_tags_and_description(ticket, agent_user, admin_user, assert_inert):
    services.tag_create(actor=admin_user, name="VPN")
    services.tag_create(actor=admin_user, name="urgent")
    ticket = services.ticket_update(
        actor=agent_user, ticket=ticket, tags=["vpn", "URGENT"], description="<script>x</script> **ok**"
    )
    assert sorted(t.name for t in ticket.tags.all()) == ["VPN", "urgent"]
    assert "<strong>ok</strong>" in ticket.description_html
    assert_inert(ticket.description_html)
    with pytest.raises(ApplicationError):
        services.ticket_update(actor=agent_user, ticket=ticket, tags=["missing"])


# --- Transitions --------------------------------------------------------------------------


def resolve(ticket, actor):
    return services.ticket_transition(
        actor=actor, ticket=ticket, to="resolved", resolution_code="fixed", resolution_note="Replaced the fuser."
    )


def test_resolving_needs_a_code_and_a_note(ticket, agent_user):
    with pytest.raises(ApplicationError) as info:
        services.ticket_transition(actor=agent_user, ticket=ticket, to="resolved")
    assert set(info.value.errors) == {"resolution_code", "resolution_note"}
    with pytest.raises(ApplicationError) as info:
        services.ticket_transition(actor=agent_user, ticket=ticket, to="resolved", resolution_code="fixed")
    assert set(info.value.errors) == {"resolution_note"}
    ticket = resolve(ticket, agent_user)
    assert ticket.status == "resolved"
    assert ticket.resolved_at is not None
    assert ticket.resolution_code == "fixed"
    assert last_event("ticket.transitioned").payload_data["to"] == "resolved"


def test_reopen_needs_a_reason_and_has_a_cooldown(ticket, agent_user, requester_user, settings):
    settings.WARDEN_TICKETS_REOPEN_COOLDOWN_SECONDS = 600
    ticket = resolve(ticket, agent_user)
    with pytest.raises(ApplicationError) as info:
        services.ticket_transition(actor=requester_user, ticket=ticket, to="open")
    assert "reason" in info.value.errors
    ticket = services.ticket_transition(actor=requester_user, ticket=ticket, to="open", reason="Still jams")
    assert ticket.status == "open"
    assert ticket.reopen_count == 1
    assert ticket.resolved_at is None
    ticket = resolve(ticket, agent_user)
    with pytest.raises(CooldownActive) as info:
        services.ticket_transition(actor=requester_user, ticket=ticket, to="open", reason="Again")
    assert info.value.status == 429
    assert 590 < info.value.retry_after <= 601
    Ticket.objects.filter(pk=ticket.pk).update(last_reopened_at=timezone.now() - timedelta(minutes=11))
    ticket.refresh_from_db()
    ticket = services.ticket_transition(actor=requester_user, ticket=ticket, to="open", reason="Again")
    assert ticket.reopen_count == 2


def test_requesters_follow_their_part_of_the_map(ticket, other_ticket, requester_user, agent_user):
    with pytest.raises(PermissionDenied):
        resolve(ticket, requester_user)
    with pytest.raises(PolicyDenied):  # not their ticket
        services.ticket_transition(actor=requester_user, ticket=other_ticket, to="cancelled", reason="x")
    with pytest.raises(ApplicationError) as info:
        services.ticket_transition(actor=requester_user, ticket=ticket, to="cancelled")
    assert "reason" in info.value.errors
    ticket = services.ticket_transition(actor=requester_user, ticket=ticket, to="cancelled", reason="Fixed itself")
    assert ticket.status == "cancelled"
    with pytest.raises(Conflict):
        services.ticket_transition(actor=agent_user, ticket=ticket, to="open")


def test_close_sets_closed_at(ticket, agent_user):
    ticket = resolve(ticket, agent_user)
    ticket = services.ticket_transition(actor=agent_user, ticket=ticket, to="closed")
    assert ticket.closed_at is not None
    assert ticket.status == "closed"


# --- Assignment ---------------------------------------------------------------------------


def test_assignee_must_be_an_agent_in_the_team(ticket, agent_user, agent2_user, requester2_user, admin_user):
    desk = agent_user.teams.get(name="Desk")
    ops = agent2_user.teams.get(name="Ops")
    with pytest.raises(ApplicationError) as info:
        services.ticket_assign(actor=agent_user, ticket=ticket, assignee=requester2_user)
    assert "assignee" in info.value.errors
    with pytest.raises(ApplicationError) as info:
        services.ticket_assign(actor=agent_user, ticket=ticket, team=desk, assignee=agent2_user)
    assert "Not a member" in info.value.errors["assignee"][0]
    ticket = services.ticket_assign(actor=agent_user, ticket=ticket, team=desk, assignee=agent_user)
    assert (ticket.team, ticket.assignee) == (desk, agent_user)
    ticket = services.ticket_assign(actor=admin_user, ticket=ticket, team=ops)  # agent is not in Ops
    assert (ticket.team, ticket.assignee) == (ops, None)
    assert last_event("ticket.assigned").payload_data["assignee_dropped"] == agent_user.pk


def test_requesters_cannot_assign(ticket, requester_user, agent_user):
    with pytest.raises(PolicyDenied):
        services.ticket_assign(actor=requester_user, ticket=ticket, assignee=agent_user)


# --- Comments -----------------------------------------------------------------------------


def test_first_public_agent_comment_sets_first_response(ticket, agent_user, requester_user):
    services.comment_add(actor=requester_user, ticket=ticket, body="Any news?")
    services.comment_add(actor=agent_user, ticket=ticket, body="Internal: checking", internal=True)
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    assert ticket.status == "new"
    comment = services.comment_add(actor=agent_user, ticket=ticket, body="On my way")
    ticket.refresh_from_db()
    assert ticket.first_response_at == comment.created_at
    assert ticket.status == "open"
    services.comment_add(actor=agent_user, ticket=ticket, body="Still on my way")
    ticket.refresh_from_db()
    assert ticket.first_response_at == comment.created_at


def test_requester_reply_puts_a_pending_ticket_back_to_open(ticket, agent_user, requester_user):
    ticket = services.ticket_transition(actor=agent_user, ticket=ticket, to="pending")
    services.comment_add(actor=requester_user, ticket=ticket, body="Here is the serial number")
    ticket.refresh_from_db()
    assert ticket.status == "open"


def test_requesters_cannot_write_internal_notes(ticket, requester_user):
    with pytest.raises(PermissionDenied):
        services.comment_add(actor=requester_user, ticket=ticket, body="psst", internal=True)


def test_comment_checks(ticket, requester_user, settings):
    for body, fragment in [("", "required"), ("x\x1b[2J", "control character"), ("x" * (50 * 1024 + 1), "maximum")]:
        with pytest.raises(ApplicationError) as info:
            services.comment_add(actor=requester_user, ticket=ticket, body=body)
        assert fragment in info.value.errors["body"][0]
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 5
    services.comment_add(actor=requester_user, ticket=ticket, body="one")
    with pytest.raises(CooldownActive) as info:
        services.comment_add(actor=requester_user, ticket=ticket, body="two")
    assert 1 <= info.value.retry_after <= 6


@pytest.mark.parametrize("author", ["agent_user", "admin_user"])
def test_the_comment_cooldown_does_not_hold_back_agents(author, ticket, request, settings):
    """An internal note and then a public reply, one after the other: the cooldown is an
    abuse guard against requesters, not a brake on the people working the ticket."""
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 60
    worker = request.getfixturevalue(author)
    services.comment_add(actor=worker, ticket=ticket, body="Vendor case opened.", internal=True)
    services.comment_add(actor=worker, ticket=ticket, body="We are on it.")
    services.comment_add(actor=worker, ticket=ticket, body="One more thing.")
    assert TicketComment.objects.filter(ticket=ticket, author=worker).count() == 3


def test_mentions_only_reach_people_who_can_read_the_comment(ticket, agent_user, agent2_user, requester2_user):
    comment = services.comment_add(
        actor=agent_user, ticket=ticket, body="@agent2 please look; cc @requester2 and @requester@alpha.test"
    )
    assert set(comment.mentions.values_list("email", flat=True)) == {"agent2@alpha.test", "requester@alpha.test"}
    note = services.comment_add(actor=agent_user, ticket=ticket, body="@requester@alpha.test @agent2", internal=True)
    assert list(note.mentions.values_list("email", flat=True)) == ["agent2@alpha.test"]


def test_comments_on_closed_tickets(ticket, agent_user, requester_user):
    ticket = services.ticket_transition(actor=agent_user, ticket=ticket, to="cancelled", reason="dup")
    with pytest.raises(Conflict):
        services.comment_add(actor=requester_user, ticket=ticket, body="hello?")
    services.comment_add(actor=agent_user, ticket=ticket, body="closing note", internal=True)


def test_comment_on_someone_elses_ticket_is_denied(other_ticket, requester_user):
    with pytest.raises(PolicyDenied):
        services.comment_add(actor=requester_user, ticket=other_ticket, body="hi")
    assert not TicketComment.objects.filter(ticket=other_ticket, author=requester_user).exists()


# --- Search -------------------------------------------------------------------------------


def test_search_finds_title_description_and_comment_text(make_ticket, agent_user, requester_user):
    a = make_ticket(title="Laptop battery swollen", description="The left side bulges")
    b = make_ticket(title="VPN drops", description="Every hour")
    c = make_ticket(title="Monitor flickers", description="")
    services.comment_add(actor=agent_user, ticket=b, body="Replaced the dock firmware")
    services.comment_add(actor=agent_user, ticket=c, body="zebraword internal detail", internal=True)

    def found(actor, q):
        return set(selectors.ticket_list(actor=actor, filters={"q": q}).values_list("number", flat=True))

    assert found(agent_user, "battery") == {a.number}
    assert found(agent_user, "bulges") == {a.number}
    assert found(agent_user, "dock firmware") == {b.number}
    assert found(agent_user, '"dock firmware" -vpn') == set()
    assert found(agent_user, "zebraword") == {c.number}  # agents search internal notes
    assert found(requester_user, "firmware") == {b.number}
    assert found(requester_user, "zebraword") == set()  # requesters never match internal text
    services.ticket_update(actor=agent_user, ticket=a, title="Laptop charger", description="")
    assert found(agent_user, "battery") == set()


# --- Categories and tags --------------------------------------------------------------------


def test_category_merge_moves_tickets_and_children(admin_user, agent_user, make_ticket):
    hw = services.category_create(actor=admin_user, name="Hardware")
    printers = services.category_create(actor=admin_user, name="Printers", parent=hw)
    devices = services.category_create(actor=admin_user, name="Devices")
    devices_printers = services.category_create(actor=admin_user, name="printers", parent=devices)
    laptops = services.category_create(actor=admin_user, name="Laptops", parent=hw)
    t1 = make_ticket(category=hw.pk)
    t2 = make_ticket(category=printers.pk)
    t3 = make_ticket(category=laptops.pk)

    with pytest.raises(PolicyDenied):
        services.category_merge(actor=agent_user, source=hw, target=devices)
    with pytest.raises(ApplicationError):
        services.category_merge(actor=admin_user, source=hw, target=printers)  # inside the source
    totals = services.category_merge(actor=admin_user, source=hw, target=devices)

    assert totals == {"tickets": 2, "categories": 1}  # laptops moves whole, with its ticket
    for obj in (t1, t2, t3):
        obj.refresh_from_db()
    assert t1.category == devices
    assert t2.category == devices_printers
    assert t3.category_id == laptops.pk
    laptops.refresh_from_db()
    assert laptops.parent == devices
    assert Category.objects.get(pk=hw.pk).archived
    assert Category.objects.get(pk=printers.pk).archived
    assert last_event("category.merged").payload_data["tickets_moved"] == 2


def test_category_create_and_archive(admin_user, agent_user):
    with pytest.raises(PolicyDenied):
        services.category_create(actor=agent_user, name="Nope")
    root = services.category_create(actor=admin_user, name="Network")
    child = services.category_create(actor=admin_user, name="Wi-Fi", parent=root)
    with pytest.raises(ApplicationError):
        services.category_create(actor=admin_user, name="network")
    assert sorted(services.category_archive(actor=admin_user, category=root)) == sorted([root.pk, child.pk])
    assert set(selectors.category_list()) == set()


def test_tag_ops(admin_user, agent_user, ticket):
    with pytest.raises(PolicyDenied):
        services.tag_create(actor=agent_user, name="x")
    tag = services.tag_create(actor=admin_user, name="printer")
    with pytest.raises(ApplicationError):
        services.tag_create(actor=admin_user, name="Printer")
    services.ticket_update(actor=agent_user, ticket=ticket, tags=["printer"])
    services.tag_rename(actor=admin_user, tag=tag, name="printing")
    assert [t.name for t in ticket.tags.all()] == ["printing"]
    assert services.tag_delete(actor=admin_user, tag=tag) == 1
    assert not Tag.objects.exists()
    assert not ticket.tags.exists()


def test_category_update_renames_moves_and_refuses_loops(admin_user, agent_user, make_ticket, settings):
    hw = services.category_create(actor=admin_user, name="Hardware")
    printers = services.category_create(actor=admin_user, name="Printers", parent=hw)
    toner = services.category_create(actor=admin_user, name="Toner", parent=printers)
    facilities = services.category_create(actor=admin_user, name="Facilities")
    with pytest.raises(PolicyDenied):
        services.category_update(actor=agent_user, category=printers, name="Nope")
    for parent, field_message in ((hw, "The category itself."), (printers, "inside"), (toner, "inside")):
        with pytest.raises(ApplicationError) as refused:
            services.category_update(actor=admin_user, category=hw, parent=parent.pk)
        assert any(field_message.split()[0] in m for m in refused.value.errors["parent"]), refused.value.errors
    with pytest.raises(ApplicationError) as refused:
        services.category_update(actor=admin_user, category=hw, parent=10**9)
    assert "parent" in refused.value.errors
    with pytest.raises(ApplicationError) as refused:
        services.category_update(actor=admin_user, category=printers, name="Bad\x1bname")
    assert "name" in refused.value.errors
    assert Category.objects.get(pk=hw.pk).parent_id is None
    ticket = make_ticket(category=toner.pk)
    moved = services.category_update(actor=admin_user, category=printers, name="Print", parent=facilities)
    assert (moved.name, moved.parent_id) == ("Print", facilities.pk)
    assert last_event("category.updated").payload_data == {
        "name": {"from": "Printers", "to": "Print"}, "parent": {"from": hw.pk, "to": facilities.pk}
    }
    assert Ticket.objects.get(pk=ticket.pk).category_id == toner.pk
    to_top = services.category_update(actor=admin_user, category=printers, parent=None)
    assert to_top.parent_id is None
    events = AuditEvent.objects.count()
    services.category_update(actor=admin_user, category=printers, name="Print", parent=None)  # no change
    assert AuditEvent.objects.count() == events
    services.category_create(actor=admin_user, name="Cables", parent=hw)
    with pytest.raises(ApplicationError) as refused:
        services.category_update(actor=admin_user, category=printers, name="CABLES", parent=hw)
    assert "name" in refused.value.errors


def test_category_update_refuses_an_archived_parent_but_renames_under_one(admin_user):
    old = services.category_create(actor=admin_user, name="Old")
    child = services.category_create(actor=admin_user, name="Child", parent=old)
    other = services.category_create(actor=admin_user, name="Other")
    services.category_archive(actor=admin_user, category=old)
    with pytest.raises(ApplicationError) as refused:
        services.category_update(actor=admin_user, category=other, parent=old)
    assert "archived" in refused.value.errors["parent"][0]
    renamed = services.category_update(actor=admin_user, category=child, name="Kid", parent=old)
    assert renamed.name == "Kid"


def test_tag_rename_reads_the_stored_name(admin_user):
    tag = services.tag_create(actor=admin_user, name="vip")
    tag.name = "VIP customer"  # what a bound ModelForm does to its instance
    services.tag_rename(actor=admin_user, tag=tag, name="VIP customer")
    assert last_event("tag.renamed").payload_data == {"from": "vip", "to": "VIP customer"}
