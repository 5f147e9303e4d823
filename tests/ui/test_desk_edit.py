"""Editing a ticket in place on the desk (title, category, impact/urgency, tags,
team/assignee) and the queue's bulk changes of the same fields, through the Django client.

Every save goes through `apps.tickets.services` (audited, SLA clocks following); the
htmx answer swaps the values, the header's badges, the SLA panel and the timeline out of
band; refusals (validation, policy, a closed ticket, somebody else's change) come back
as errors next to the field with the agent's input kept. The timeline names people as
the desk does everywhere: full name, email on hover."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Team
from apps.accounts.services import user_update
from apps.audit.models import AuditEvent
from apps.sla import selectors as sla_selectors
from apps.sla import services as sla_services
from apps.sla.validation import CalendarInput, PolicyInput
from apps.tickets import services
from apps.tickets.models import Tag, Ticket
from tests.ui.test_csp import assert_runs_under_policy

HTMX = {"HTTP_HX_REQUEST": "true"}
RESULTS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "queue-results"}


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 0
    return settings


@pytest.fixture
def desk_team(tenant):
    return Team.objects.get(name="Desk")


@pytest.fixture
def ops_team(tenant):
    return Team.objects.get(name="Ops")


@pytest.fixture
def named(agent_user, agent2_user, admin_user):
    """The agents have full names (people are named by them, the email on hover)."""
    user_update(user=agent_user, actor=admin_user, full_name="Ada Agent")
    user_update(user=agent2_user, actor=admin_user, full_name="Bruno Second")
    agent_user.refresh_from_db()
    agent2_user.refresh_from_db()


@pytest.fixture
def taxonomy(tenant):
    Tag.objects.get_or_create(name="printer")
    Tag.objects.get_or_create(name="vip")
    hardware = services.category_create(actor=None, name="Hardware")
    network = services.category_create(actor=None, name="Network")
    return {"hardware": hardware, "network": network}


@pytest.fixture
def ticket(tenant, agent_user, requester_user, desk_team):
    return services.ticket_create(actor=agent_user, requester=requester_user, title="Printer on floor 2 is jammed",
                                  description="E42", team=desk_team)


def edit_url(number: int) -> str:
    return reverse("desk:edit", kwargs={"number": number})


def page_url(number: int) -> str:
    return reverse("desk:ticket", kwargs={"number": number})


def region(html: str, element_id: str) -> str:
    """The outer HTML of the element with `element_id` (first match, balanced by tag)."""
    start = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"', html)
    assert start, f"#{element_id} not in the answer"
    tag = start.group(1)
    depth, position = 0, start.start()
    for match in re.finditer(rf"<(/?){tag}\b[^>]*>", html[position:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return html[position:position + match.end()]
    raise AssertionError(f"#{element_id} is not closed")


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def form_data(html: str) -> dict[str, str]:
    """The values an edit form in `html` would post (inputs and selected options)."""
    data = {}
    for tag in re.findall(r"<input\b[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            data[name.group(1)] = unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        data[name] = unescape(chosen.group(1)) if chosen else ""
    return data


def open_editor(browser, number: int, key: str) -> dict[str, str]:
    """GET the field's editor as htmx does and return what it would post."""
    response = browser.get(edit_url(number), {"edit": key}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    data = form_data(html)
    data.pop("csrfmiddlewaretoken", None)
    return data


def last_event(ticket, action: str) -> AuditEvent | None:
    return (AuditEvent.objects.filter(target_type="tickets.ticket", target_id=str(ticket.pk), action=action)
            .order_by("-seq").first())


# --- Opening an editor --------------------------------------------------------------------


def test_each_field_has_an_edit_button_and_its_editor(ticket, web_as, agent_user):
    browser = web_as(agent_user)
    page = browser.get(page_url(ticket.number)).content.decode()
    for key, label in [("title", "Edit the title"), ("assignment", "Edit team and assignee"),
                       ("category", "Edit the category"), ("priority", "Edit impact and urgency"),
                       ("tags", "Edit the tags")]:
        opener = re.search(rf'<form method="get"[^>]*data-edit-open="{key}"[^>]*>(.*?)</form>', page, re.S)
        assert opener, key
        assert f'hx-get="{edit_url(ticket.number)}"' in opener.group(0)
        assert f'hx-target="#edit-{key}-slot"' in opener.group(0)
        assert f'<button type="submit" class="edit-button" id="edit-{key}-button" aria-label="{label}">Edit</button>' \
            in opener.group(1)
        assert f'<div class="editable-slot" id="edit-{key}-slot"></div>' in page

    html = browser.get(edit_url(ticket.number), {"edit": "priority"}, **HTMX).content.decode()
    assert html.lstrip().startswith("<form")
    assert 'hx-swap="none"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<option value="2" selected>Medium</option>' in html
    assert form_data(html)["seen_impact"] == "2"
    assert 'id="edit-priority-impact"' in html
    assert '<label for="edit-priority-impact">Impact</label>' in html

    # Without JavaScript the Edit button loads the page with that editor open.
    response = browser.get(edit_url(ticket.number), {"edit": "tags"})
    assert response.status_code == 302
    assert response["Location"] == page_url(ticket.number) + "?edit=tags#edit-tags"
    page = browser.get(page_url(ticket.number), {"edit": "tags"}).content.decode()
    assert re.search(r'<div class="editable-slot" id="edit-tags-slot">\s*<form method="post"', page)

    assert browser.get(edit_url(ticket.number), {"edit": "description"}, **HTMX).status_code == 404


# --- Saving, field by field -----------------------------------------------------------------


def save(browser, number: int, key: str, **values):
    data = open_editor(browser, number, key)
    data.update({k: str(v) for k, v in values.items()})
    return browser.post(edit_url(number), data, **HTMX)


def saved_detail(response) -> dict:
    assert response.status_code == 200, response.content.decode()[:2000]
    return json.loads(response["HX-Trigger-After-Settle"])["desk:edit-saved"]


def test_title_is_saved_audited_and_shown(ticket, web_as, agent_user, named):
    response = save(web_as(agent_user), ticket.number, "title", title="Printer on floor 3 is jammed")
    assert saved_detail(response) == {"field": "title", "message": "Title saved."}
    assert Ticket.objects.get(pk=ticket.pk).title == "Printer on floor 3 is jammed"
    event = last_event(ticket, "ticket.updated")
    assert event.actor_id == agent_user.pk
    # The test tenants' audit keeps digests of text (metadata only): the timeline says what changed, not the text.
    assert event.payload_data["title"]["length"] == len("Printer on floor 3 is jammed")
    html = response.content.decode()
    assert 'id="value-title" hx-swap-oob="true">Printer on floor 3 is jammed' in html
    assert '<div class="editable-slot" id="edit-title-slot" hx-swap-oob="true"></div>' in html
    timeline = region(html, "timeline")
    assert 'hx-swap-oob="true"' in timeline.split(">", 1)[0]
    entry = re.search(rf'<li class="tl tl-update" id="event-{event.seq}">(.*?)</li>\s*(?=<li|</ol>)', timeline, re.S)
    assert entry
    assert '<span class="person" title="agent@alpha.test">Ada Agent</span> changed the ticket' in entry.group(1)
    assert "Title edited" in text(entry.group(1))
    assert "user:" not in html


def test_category_is_saved_audited_and_shown(ticket, web_as, agent_user, taxonomy):
    response = save(web_as(agent_user), ticket.number, "category", category=taxonomy["network"].pk)
    assert saved_detail(response)["message"] == "Category saved."
    assert Ticket.objects.get(pk=ticket.pk).category_id == taxonomy["network"].pk
    event = last_event(ticket, "ticket.updated")
    assert event.payload_data["category"] == {"from": None, "to": taxonomy["network"].pk}
    html = response.content.decode()
    assert "Network" in text(region(html, "value-category"))
    assert "Saved" in region(html, "value-category")
    assert "Category: No category → Network" in text(region(html, "timeline"))


def test_impact_and_urgency_recompute_the_priority_and_the_sla(web_as, agent_user, admin_user, requester_user,
                                                                desk_team):
    calendar = sla_services.sla_calendar_save(
        actor=admin_user, data=CalendarInput(name="Always", timezone="UTC", always_open=True, shifts=[], holidays=[]))
    targets = {p: {"first_response": 30 * n, "resolution": 120 * n} for n, p in enumerate(("P1", "P2", "P3", "P4"), 1)}
    sla_services.sla_policy_save(actor=admin_user, data=PolicyInput(
        name="Desk targets", calendar=calendar, targets=targets, order=1, active=True, categories=[],
        teams=[desk_team], pause_statuses=["pending"], warning_thresholds=[50, 75, 90], escalations=[]))
    ticket = services.ticket_create(actor=agent_user, requester=requester_user, title="Slow VPN", team=desk_team)
    assert ticket.priority == "P3"
    before = {c.metric: c.due_at for c in sla_selectors.ticket_clocks(ticket)}
    assert before, "the policy gave the ticket clocks"

    response = save(web_as(agent_user), ticket.number, "priority", impact=1, urgency=1)
    assert saved_detail(response)["message"] == "Impact and urgency saved: the priority is now P1 - Critical."
    changed = Ticket.objects.get(pk=ticket.pk)
    assert (changed.impact, changed.urgency, changed.priority) == (1, 1, "P1")
    event = last_event(ticket, "ticket.updated")
    assert event.payload_data["priority"] == {"from": "P3", "to": "P1"}
    after = {c.metric: c.due_at for c in sla_selectors.ticket_clocks(changed)}
    assert after["resolution"] < before["resolution"]  # P1's target is shorter

    html = response.content.decode()
    badges = re.search(r'<p class="ticket-badges" hx-swap-oob="outerHTML:.ticket-head .ticket-badges">(.*?)</p>',
                       html, re.S)
    assert badges
    assert '<span class="badge prio-P1"><span class="visually-hidden">Priority: </span>P1 - Critical</span>' in \
        badges.group(1)
    assert "High / High P1 - Critical" in text(region(html, "value-priority"))
    sla = region(html, "sla")
    assert 'hx-swap-oob="true"' in sla.split(">", 1)[0]
    assert timezone.localtime(after["resolution"]).isoformat() in sla
    changes = text(region(html, "timeline"))
    assert "Impact: Medium → High" in changes
    assert "Urgency: Medium → High" in changes
    assert "Priority: P3 - Moderate → P1 - Critical" in changes


def test_tags_are_saved_audited_and_shown(ticket, web_as, agent_user, taxonomy):
    browser = web_as(agent_user)
    response = save(browser, ticket.number, "tags", tags="printer, VIP")
    assert saved_detail(response)["message"] == "Tags saved."
    assert sorted(Ticket.objects.get(pk=ticket.pk).tags.values_list("name", flat=True)) == ["printer", "vip"]
    assert last_event(ticket, "ticket.updated").payload_data["tags"] == {"from": [], "to": ["printer", "vip"]}
    html = response.content.decode()
    assert '<span class="tag">printer</span> <span class="tag">vip</span>' in region(html, "value-tags")
    assert "Tags added: printer vip" in text(region(html, "timeline"))

    response = save(browser, ticket.number, "tags", tags="vip")
    assert "Tags removed: printer" in text(region(response.content.decode(), "timeline"))


def test_team_and_assignee_are_saved_audited_and_shown(ticket, web_as, agent_user, agent2_user, ops_team, named):
    response = save(web_as(agent_user), ticket.number, "assignment", team=ops_team.pk, assignee=agent2_user.pk)
    assert saved_detail(response)["message"] == "Team and assignee saved."
    changed = Ticket.objects.get(pk=ticket.pk)
    assert (changed.team_id, changed.assignee_id) == (ops_team.pk, agent2_user.pk)
    event = last_event(ticket, "ticket.assigned")
    assert event.actor_id == agent_user.pk
    assert event.payload_data["to"] == {"team": ops_team.pk, "assignee": agent2_user.pk}
    html = response.content.decode()
    assert 'Ops / <span class="person" title="agent2@alpha.test">Bruno Second</span>' in region(html, "value-assignment")
    timeline = region(html, "timeline")
    assert ('<span class="person" title="agent@alpha.test">Ada Agent</span> assigned the ticket to '
            '<span class="person" title="agent2@alpha.test">Bruno Second</span>') in timeline
    assert "moved the ticket to the team Ops" in timeline
    assert 'id="assign" aria-labelledby="assign-heading" hx-swap-oob="true"' in html  # the suggestion follows


def test_an_unchanged_value_saves_nothing(ticket, web_as, agent_user):
    response = save(web_as(agent_user), ticket.number, "priority")
    assert saved_detail(response)["message"] == "Nothing to save: the value is unchanged."
    assert last_event(ticket, "ticket.updated") is None


def test_without_javascript_a_save_redirects_to_the_field(ticket, web_as, agent_user, taxonomy):
    browser = web_as(agent_user)
    data = open_editor(browser, ticket.number, "category")
    data["category"] = str(taxonomy["hardware"].pk)
    response = browser.post(edit_url(ticket.number), data)
    assert response.status_code == 302
    assert response["Location"] == page_url(ticket.number) + "#edit-category"
    page = browser.get(response["Location"]).content.decode()
    assert "Category saved." in page
    assert "Hardware" in text(region(page, "value-category"))
    assert "Category: No category → Hardware" in text(region(page, "timeline"))


# --- Refusals: next to the field, nothing lost ----------------------------------------------


def refused(response, key: str) -> str:
    assert response.status_code == 422, response.status_code
    detail = json.loads(response["HX-Trigger-After-Settle"])["desk:edit-refused"]
    assert detail["field"] == key
    html = response.content.decode()
    assert re.match(rf'\s*<form method="post"[^>]*id="edit-{key}-form"[^>]*hx-swap-oob="true"', html), html[:300]
    assert "<html" not in html
    return html


def test_validation_errors_are_shown_next_to_the_field_with_the_input_kept(ticket, web_as, agent_user, taxonomy):
    browser = web_as(agent_user)
    html = refused(save(browser, ticket.number, "tags", tags="printer, no-such-tag"), "tags")
    assert re.search(r'<ul class="field-error" id="edit-tags-tags_error"><li>Unknown tag\(s\): no-such-tag', html)
    assert 'value="printer, no-such-tag"' in html  # what was typed is still there
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="edit-tags-tags_helptext edit-tags-tags_error"' in html

    html = refused(save(browser, ticket.number, "title", title="   "), "title")
    assert re.search(r'id="edit-title-title_error"><li>[^<]*required', html)

    html = refused(save(browser, ticket.number, "title", title="Bad\x07title"), "title")
    assert 'id="edit-title-title_error"' in html

    html = refused(save(browser, ticket.number, "priority", impact=7), "priority")
    assert 'id="edit-priority-impact_error"' in html

    assert Ticket.objects.get(pk=ticket.pk).title == "Printer on floor 2 is jammed"
    assert not Ticket.objects.get(pk=ticket.pk).tags.exists()
    assert last_event(ticket, "ticket.updated") is None


def test_an_assignee_outside_the_team_is_refused_under_the_assignee(ticket, web_as, agent_user, agent2_user, desk_team):
    html = refused(save(web_as(agent_user), ticket.number, "assignment", team=desk_team.pk,
                        assignee=agent2_user.pk), "assignment")
    assert re.search(r'id="edit-assignment-assignee_error"><li>Not a member of the team Desk', html)
    assert f'<option value="{agent2_user.pk}" selected>' in html
    assert Ticket.objects.get(pk=ticket.pk).assignee_id is None


def test_a_policy_denial_is_a_form_error_and_is_recorded(ticket, web_as, agent_user, admin_user, taxonomy,
                                                          monkeypatch):
    from apps.desk import views
    from apps.policies.baseline import BASELINE_RULES
    from apps.policies.decisions import PolicyDenied
    from apps.policies.services import policy_publish

    persisted = []
    monkeypatch.setattr(views, "persist_denial", persisted.append)  # in a test the transaction never ends

    deny = {"name": "agents do not recategorise", "subject": "role:agent", "action": "ticket.update",
            "effect": "deny", "priority": 5}
    policy_publish(actor=admin_user, rules=[*BASELINE_RULES, deny], comment="test")
    html = refused(save(web_as(agent_user), ticket.number, "category", category=taxonomy["network"].pk), "category")
    errors = re.search(r'<ul class="field-error edit-errors" id="edit-category-errors"[^>]*>(.*?)</ul>', html, re.S)
    assert errors
    assert "Not allowed to ticket.update: denied by rule 'agents do not recategorise'." in text(errors.group(1))
    assert f'<option value="{taxonomy["network"].pk}" selected>' in html
    assert Ticket.objects.get(pk=ticket.pk).category_id is None
    # The denial is written again once the view's transaction rolled back (as the error middleware does).
    assert len(persisted) == 1
    assert isinstance(persisted[0], PolicyDenied)
    assert persisted[0].record["log"]["actor_label"] == f"user:{agent_user.pk}"


def test_a_closed_ticket_refuses_changes(ticket, web_as, agent_user, taxonomy):
    browser = web_as(agent_user)
    data = open_editor(browser, ticket.number, "category")  # opened before somebody cancelled it
    services.ticket_transition(actor=agent_user, ticket=Ticket.objects.get(pk=ticket.pk), to="cancelled",
                               reason="duplicate")
    data["category"] = str(taxonomy["network"].pk)
    html = refused(browser.post(edit_url(ticket.number), data, **HTMX), "category")
    assert "is cancelled; it can no longer be changed" in html
    # Without JavaScript: the page with the editor open, the error in it, status 409.
    response = browser.post(edit_url(ticket.number), data)
    assert response.status_code == 409
    slot = region(response.content.decode(), "edit-category-slot")
    assert "it can no longer be changed" in slot
    # The page itself no longer offers the Edit buttons.
    assert 'data-edit-open' not in browser.get(page_url(ticket.number)).content.decode()


def test_a_change_somebody_else_saved_meanwhile_is_not_overwritten(ticket, web_as, agent_user, agent2_user, taxonomy):
    browser = web_as(agent_user)
    data = open_editor(browser, ticket.number, "category")
    assert data["seen_category"] == ""
    services.ticket_update(actor=agent2_user, ticket=Ticket.objects.get(pk=ticket.pk), category=taxonomy["hardware"])
    data["category"] = str(taxonomy["network"].pk)
    html = refused(browser.post(edit_url(ticket.number), data, **HTMX), "category")
    assert "Somebody else changed this while you were editing: it is now “Hardware”." in html
    assert Ticket.objects.get(pk=ticket.pk).category_id == taxonomy["hardware"].pk
    again = form_data(html)
    assert again["category"] == str(taxonomy["network"].pk)  # the agent's choice is kept
    assert again["seen_category"] == str(taxonomy["hardware"].pk)  # ... and the new value has been seen
    again.pop("csrfmiddlewaretoken", None)
    response = browser.post(edit_url(ticket.number), again, **HTMX)
    assert saved_detail(response)["field"] == "category"
    assert Ticket.objects.get(pk=ticket.pk).category_id == taxonomy["network"].pk


def test_a_change_to_the_other_level_saved_meanwhile_is_kept(ticket, web_as, agent_user, agent2_user):
    browser = web_as(agent_user)
    data = open_editor(browser, ticket.number, "priority")
    services.ticket_update(actor=agent2_user, ticket=Ticket.objects.get(pk=ticket.pk), impact=3)
    data["urgency"] = "1"  # the agent changes urgency only
    saved_detail(browser.post(edit_url(ticket.number), data, **HTMX))
    changed = Ticket.objects.get(pk=ticket.pk)
    assert (changed.impact, changed.urgency, changed.priority) == (3, 1, "P3")


def test_the_assignment_suggestion_errors_open_the_assignment_editor(ticket, web_as, agent_user, agent2_user,
                                                                     desk_team):
    response = web_as(agent_user).post(reverse("desk:assign", kwargs={"number": ticket.number}),
                                       {"team": desk_team.pk, "assignee": agent2_user.pk})
    assert response.status_code == 400
    slot = region(response.content.decode(), "edit-assignment-slot")
    assert 'id="edit-assignment-assignee_error"' in slot


# --- Who may edit -----------------------------------------------------------------------------


def test_requesters_and_anonymous_visitors_cannot_edit(ticket, client, web_as, requester_user, taxonomy):
    data = {"edit": "category", "category": str(taxonomy["network"].pk), "seen_category": ""}
    requester = web_as(requester_user)
    assert requester.get(edit_url(ticket.number), {"edit": "category"}, **HTMX).status_code == 403
    assert requester.post(edit_url(ticket.number), data, **HTMX).status_code == 403
    client.defaults["HTTP_HOST"] = "alpha.localhost"
    response = client.post(edit_url(ticket.number), data, **HTMX)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert Ticket.objects.get(pk=ticket.pk).category_id is None


def test_another_tenants_ticket_is_not_found(tenant, other_tenant, web_as, agent_user):
    from django.db import connection

    from apps.accounts.models import User

    connection.set_tenant(other_tenant)
    try:
        foreign = services.ticket_create(actor=User.objects.get(email="requester@beta.test"), title="Beta only")
        number = foreign.number + 10_000
        Ticket.objects.filter(pk=foreign.pk).update(number=number)
    finally:
        connection.set_tenant(tenant)
    assert web_as(agent_user).post(edit_url(number), {"edit": "title", "title": "x"}, **HTMX).status_code == 404


# --- CSP and CSRF ------------------------------------------------------------------------------


def test_editor_fragments_run_under_the_policy_and_carry_the_token(ticket, web_as, agent_user, taxonomy):
    browser = web_as(agent_user)
    fragments = [
        browser.get(edit_url(ticket.number), {"edit": "category"}, **HTMX),
        save(browser, ticket.number, "tags", tags="nope"),
        save(browser, ticket.number, "tags", tags="vip"),
        browser.get(page_url(ticket.number), {"edit": "assignment"}),
    ]
    for response in fragments:
        assert_runs_under_policy(response)
        for form in re.findall(r"<form\b[^>]*method=\"post\".*?</form>", response.content.decode(), re.S):
            assert 'name="csrfmiddlewaretoken"' in form


def test_posts_without_the_csrf_token_are_refused(ticket, agent_user):
    from django.test import Client

    client = Client(HTTP_HOST="alpha.localhost", enforce_csrf_checks=True)
    client.force_login(agent_user, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post(edit_url(ticket.number), {"edit": "title", "title": "Forged"}, **HTMX)
    assert response.status_code == 403
    assert Ticket.objects.get(pk=ticket.pk).title != "Forged"


# --- Timeline: who did it -----------------------------------------------------------------------


def test_the_timeline_names_people_never_by_id(ticket, web_as, agent_user, agent2_user, admin_user, ops_team, named):
    services.ticket_assign(actor=agent2_user, ticket=ticket, team=ops_team, assignee=agent2_user)
    services.comment_add(actor=agent2_user, ticket=ticket, body="On it", internal=True)
    services.ticket_transition(actor=agent2_user, ticket=Ticket.objects.get(pk=ticket.pk), to="pending")
    html = web_as(agent_user).get(page_url(ticket.number)).content.decode()
    timeline = region(html, "timeline")
    bruno = '<span class="person" title="agent2@alpha.test">Bruno Second</span>'
    assert f"{bruno} assigned the ticket to {bruno}" in timeline
    assert f"{bruno} changed the status" in timeline
    assert f'<strong class="who">{bruno}</strong>' in timeline
    assert "user:" not in html
    assert 'aria-label="Internal note, Bruno Second"' in timeline
    # A requester without a full name is their email address.
    assert '<span class="person">requester@alpha.test</span> opened the ticket' in timeline


# --- Bulk changes of the same fields --------------------------------------------------------------


@pytest.fixture
def bulk(tenant, agent_user, requester_user, desk_team, taxonomy):
    def make(title, **fields):
        return services.ticket_create(actor=agent_user, requester=requester_user, title=title, **fields)

    fine = make("Bulk fine", team=desk_team)
    other = make("Bulk other", tags=["printer"])
    closed = make("Bulk closed")
    services.ticket_transition(actor=agent_user, ticket=closed, to="cancelled", reason="dup")
    return fine, other, closed


def bulk_post(browser, tickets, **data):
    response = browser.post(reverse("desk:bulk"), {"ticket": [t.number for t in tickets], "back": "", **data}, **RESULTS)
    assert response.status_code in (200, 422)
    return response, text(region(response.content.decode(), "bulk-report"))


def test_bulk_category_with_a_closed_ticket_refused(bulk, web_as, agent_user, taxonomy):
    fine, other, closed = bulk
    response, report = bulk_post(web_as(agent_user), bulk, action="category", category=str(taxonomy["network"].pk))
    assert "Change category to Network: 2 tickets changed, 1 refused." in report
    assert f"#{closed.number} : Ticket #{closed.number} is cancelled; it can no longer be changed." in report
    assert {t.category_id for t in Ticket.objects.filter(pk__in=[fine.pk, other.pk])} == {taxonomy["network"].pk}
    assert Ticket.objects.get(pk=closed.pk).category_id is None
    assert AuditEvent.objects.filter(action="ticket.updated", target_id__in=[str(fine.pk), str(other.pk)]).count() == 2
    # "No category" takes it away again.
    _response, report = bulk_post(web_as(agent_user), [fine], action="category", category="none")
    assert "1 ticket changed" in report
    assert Ticket.objects.get(pk=fine.pk).category_id is None


def test_bulk_impact_and_urgency(bulk, web_as, agent_user):
    fine, other, closed = bulk
    _response, report = bulk_post(web_as(agent_user), bulk, action="priority", impact="1")
    assert "Set impact High: 2 tickets changed, 1 refused." in report
    for pk in (fine.pk, other.pk):
        changed = Ticket.objects.get(pk=pk)
        assert (changed.impact, changed.urgency, changed.priority) == (1, 2, "P2")
    assert Ticket.objects.get(pk=closed.pk).impact == 2


def test_bulk_add_tags_keeps_the_tags_tickets_have(bulk, web_as, agent_user):
    fine, other, closed = bulk
    _response, report = bulk_post(web_as(agent_user), bulk, action="tags", tags="vip")
    assert "Add tags vip: 2 tickets changed, 1 refused." in report
    assert list(Ticket.objects.get(pk=fine.pk).tags.values_list("name", flat=True)) == ["vip"]
    assert sorted(Ticket.objects.get(pk=other.pk).tags.values_list("name", flat=True)) == ["printer", "vip"]
    # An unknown tag is refused for each ticket, with the service's reason.
    _response, report = bulk_post(web_as(agent_user), [fine, other], action="tags", tags="vip, nope")
    assert "0 tickets changed, 2 refused" in report
    assert report.count("Unknown tag(s): nope") == 2


def test_bulk_team_and_assignee(bulk, web_as, agent_user, agent2_user, ops_team):
    fine, other, closed = bulk
    _response, report = bulk_post(web_as(agent_user), bulk, action="assign", team=str(ops_team.pk),
                                  assignee=str(agent2_user.pk))
    assert "Assign: 2 tickets changed, 1 refused." in report
    assert f"#{closed.number} : Ticket #{closed.number} is cancelled; it can no longer be assigned." in report
    for pk in (fine.pk, other.pk):
        assert Ticket.objects.filter(pk=pk, team=ops_team, assignee=agent2_user).exists()
    # A team alone: each ticket's assignee stays if they are in it.
    _response, report = bulk_post(web_as(agent_user), [fine], action="assign", team="none")
    assert "1 ticket changed" in report
    assert Ticket.objects.filter(pk=fine.pk, team=None, assignee=agent2_user).exists()


def test_bulk_forms_ask_for_what_each_action_needs(bulk, web_as, agent_user):
    fine, _other, _closed = bulk
    browser = web_as(agent_user)
    for action, message in [("category", "Choose the category"), ("priority", "Choose the impact, the urgency or both"),
                            ("tags", "Type the tags to add"), ("assign", "Choose who gets the tickets, or their team")]:
        response, report = bulk_post(browser, [fine], action=action)
        assert response.status_code == 422
        assert "Nothing was changed." in report
        assert message in report


def test_the_queue_offers_the_new_bulk_actions(bulk, web_as, agent_user):
    html = web_as(agent_user).get(reverse("desk:queue")).content.decode()
    form = region(html, "bulk-form")
    for value, label in [("assign", "Assign selected"), ("category", "Set category of selected"),
                         ("priority", "Set impact and urgency of selected"), ("tags", "Add tags to selected")]:
        assert f'<button type="submit" name="action" value="{value}" class="desk-button">{label}</button>' in form
    for field in ("team", "assignee", "category", "impact", "urgency", "tags"):
        assert f'id="bulk-{field}"' in form
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


# --- The board shows the SLA badge --------------------------------------------------------------


def test_board_cards_show_the_sla_badge(tenant, web_as, agent_user, admin_user, requester_user, desk_team):
    calendar = sla_services.sla_calendar_save(
        actor=admin_user, data=CalendarInput(name="Always", timezone="UTC", always_open=True, shifts=[], holidays=[]))
    sla_services.sla_policy_save(actor=admin_user, data=PolicyInput(
        name="Board", calendar=calendar, targets={p: {"first_response": 60, "resolution": 240}
                                                  for p in ("P1", "P2", "P3", "P4")},
        order=1, active=True, categories=[], teams=[desk_team], pause_statuses=["pending"],
        warning_thresholds=[50, 75, 90], escalations=[]))
    with_sla = services.ticket_create(actor=agent_user, requester=requester_user, title="With SLA", team=desk_team)
    without = services.ticket_create(actor=agent_user, requester=requester_user, title="Without SLA")
    html = web_as(agent_user).get(reverse("desk:board")).content.decode()
    card = region(html, f"card-{with_sla.number}")
    assert 'class="sla-badge sla-on-track"' in card
    assert "left" in text(card)
    assert 'class="sla-badge sla-none"' in region(html, f"card-{without.number}")
    assert timedelta(0) < min(c.due_at for c in sla_selectors.ticket_clocks(with_sla)) - timezone.now()
