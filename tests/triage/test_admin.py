"""Triage in the tenant's admin: rules saved through `rule_save` (refusals on the form,
nothing saved), the test box and the dry run, settings through `settings_update`,
proposals read-only; tenant admins only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.triage.models import Proposal, Rule, TriageSettings
from apps.triage.selectors import settings_get

pytestmark = pytest.mark.django_db

RULES = "/admin/triage/rule/"


def rule_data(categories, ops, **values) -> dict:
    return {"name": "Printers to Ops", "position": "10", "enabled": "on", "keywords": "printer, toner", "pattern": "",
            "source": "", "in_category": "", "requester_domain": "", "set_category": categories["printers"].pk,
            "set_team": ops.pk, "set_impact": "", "set_urgency": "1", "work_note": "Routed by the printer rule.",
            "confidence": "0.85", **values}


def test_an_admin_saves_a_rule_through_the_service(web_as, admin_user, categories, ops):
    client = web_as(admin_user)
    assert client.get(RULES + "add/").status_code == 200
    generic = AuditEvent.objects.filter(action__startswith="admin.").count()
    response = client.post(RULES + "add/", rule_data(categories, ops))
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = Rule.objects.get(name="Printers to Ops")
    assert (rule.position, rule.set_team, rule.confidence) == (10, ops, Decimal("0.85"))
    event = AuditEvent.objects.filter(action="triage.rule_created").latest("seq")
    assert event.payload_data["rule_id"] == rule.pk
    assert AuditEvent.objects.filter(action__startswith="admin.").count() == generic  # the service's event only

    changed = client.post(f"{RULES}{rule.pk}/change/", rule_data(categories, ops, keywords="printer, toner, scanner"))
    assert changed.status_code == 302
    rule.refresh_from_db()
    assert rule.keywords == "printer, toner, scanner"
    changed_event = AuditEvent.objects.filter(action="triage.rule_changed").latest("seq")
    assert (changed_event.payload_data["rule_id"], changed_event.payload_data["fields"]) == (rule.pk, ["keywords"])
    listing = client.get(RULES).content.decode()
    assert "Printers to Ops" in listing
    assert "keywords: printer," in listing

    deleted = client.post(f"{RULES}{rule.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert AuditEvent.objects.filter(action="triage.rule_deleted").exists()


def test_an_invalid_regex_is_a_form_error_and_nothing_is_saved(web_as, admin_user, categories, ops):
    client = web_as(admin_user)
    response = client.post(RULES + "add/", rule_data(categories, ops, keywords="", pattern="print(er"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "pattern" in form.errors
    assert "Not a valid regular expression" in form.errors["pattern"][0]
    assert not Rule.objects.exists()
    assert not AuditEvent.objects.filter(action="triage.rule_created").exists()


def test_a_rule_without_conditions_is_a_form_error(web_as, admin_user, categories, ops):
    response = web_as(admin_user).post(RULES + "add/", rule_data(categories, ops, keywords=""))
    assert response.status_code == 200
    assert "Give at least one condition" in response.context["adminform"].form.errors["keywords"][0]
    assert not Rule.objects.exists()


def test_the_list_edits_order_and_enabled_through_the_service(web_as, admin_user, make_rule):
    first = make_rule()
    second = make_rule(name="Network", keywords="network", position=20)
    client = web_as(admin_user)
    data = {"form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "2", "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "1000",
            "form-0-id": first.pk, "form-0-position": "30", "form-0-enabled": "on",
            "form-1-id": second.pk, "form-1-position": "20", "_save": "Save"}
    before = AuditEvent.objects.filter(action="triage.rule_changed").count()
    response = client.post(RULES, data)
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.position, first.enabled, second.position, second.enabled) == (30, True, 20, False)
    assert AuditEvent.objects.filter(action="triage.rule_changed").count() == before + 2


def test_the_test_box_says_whether_and_why_a_ticket_matches(web_as, admin_user, make_rule):
    rule = make_rule()
    client = web_as(admin_user)
    change = client.get(f"{RULES}{rule.pk}/change/").content.decode()
    try_url = f"{RULES}{rule.pk}/try/"
    assert try_url in change
    matched = client.get(try_url, {"action": "test", "title": "Printer out of toner", "description": "",
                                   "source": "", "requester_email": ""})
    assert matched.status_code == 200
    assert matched.context["test"].matched is True
    html = matched.content.decode()
    assert "Matched." in html
    assert "printer" in html
    missed = client.get(try_url, {"action": "test", "title": "My mouse is broken"})
    assert missed.context["test"].matched is False
    assert "Not matched." in missed.content.decode()
    empty = client.get(try_url, {"action": "test", "title": ""})
    assert empty.context["test"] is None
    assert "Give a title or a description" in empty.content.decode()


def test_the_dry_run_counts_and_lists_the_recent_tickets_it_matches(web_as, admin_user, make_rule, new_ticket,
                                                                   settings):
    settings_get()
    TriageSettings.objects.update(enabled=False)  # nothing proposed while the tickets are made
    printer = new_ticket(title="Printer jammed")
    new_ticket(title="Mouse broken")
    toner = new_ticket(title="Toner is empty")
    rule = make_rule()
    response = web_as(admin_user).get(f"{RULES}{rule.pk}/try/", {"action": "dry_run", "last": "10"})
    assert response.status_code == 200
    dry_run = response.context["dry_run"]
    assert (dry_run["examined"], dry_run["count"]) == (3, 2)
    assert [t.number for t in dry_run["tickets"]] == [toner.number, printer.number]
    html = response.content.decode()
    assert "The rule matches 2 of the last 3 tickets." in html
    assert f"/desk/tickets/{printer.number}/" in html
    assert not Proposal.objects.exists()


def test_settings_are_saved_through_the_service(web_as, admin_user):
    client = web_as(admin_user)
    assert settings_get().pk is None  # a new tenant: the defaults, not stored
    listing = client.get("/admin/triage/triagesettings/")
    row = TriageSettings.objects.get()
    assert listing.status_code == 302
    assert listing["Location"].endswith(f"/triagesettings/{row.pk}/change/")
    url = f"/admin/triage/triagesettings/{row.pk}/change/"
    refused = client.post(url, {"enabled": "on", "confidence_floor": "0.80", "auto_approve_threshold": "0.50"})
    assert refused.status_code == 200
    assert "auto_approve_threshold" in refused.context["adminform"].form.errors
    saved = client.post(url, {"enabled": "on", "confidence_floor": "0.80", "auto_approve_rules": "on",
                              "auto_approve_threshold": "0.90"})
    assert saved.status_code == 302
    row.refresh_from_db()
    assert (row.confidence_floor, row.auto_approve_rules, row.auto_approve_threshold) == (
        Decimal("0.80"), True, Decimal("0.90"))
    assert AuditEvent.objects.filter(action="triage.settings_changed").exists()


def test_proposals_and_decisions_are_read_only(web_as, admin_user, make_rule, new_ticket, relay):
    make_rule()
    new_ticket()
    relay()
    proposal = Proposal.objects.get()
    client = web_as(admin_user)
    listing = client.get("/admin/triage/proposal/", {"status__exact": "pending", "classifier__exact": "rules"})
    assert listing.status_code == 200
    assert "Printers to Ops" in listing.content.decode()
    page = client.get(f"/admin/triage/proposal/{proposal.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.get("/admin/triage/proposal/add/").status_code == 403
    assert client.get("/admin/triage/decision/", {"verdict__exact": "approve"}).status_code == 200


def test_agents_cannot_reach_the_triage_admin(web_as, agent_user, admin_user, make_rule, categories, ops):
    rule = make_rule()
    client = web_as(agent_user)
    for url in (RULES, f"{RULES}{rule.pk}/change/", f"{RULES}{rule.pk}/try/", "/admin/triage/triagesettings/",
                "/admin/triage/proposal/"):
        response = client.get(url)
        assert response.status_code in (302, 403), url
        if response.status_code == 302:
            assert "login" in response["Location"], url
    client.post(RULES + "add/", rule_data(categories, ops, name="Sneaky"))
    assert not Rule.objects.filter(name="Sneaky").exists()
    assert RULES in web_as(admin_user).get("/admin/").content.decode()  # listed for the tenant's admins
