"""The triage queue in a real browser (gunicorn + Chromium), in English and Polish: an
incident of a fake ServiceNow is imported as a ticket, a rule proposes its routing, an
agent approves it in the queue (htmx swaps the entry in place), and the approved routing
is written back to the incident by the outbox subscriber (run here, in the test process,
with loopback allowed). Screenshots: test-artifacts/screenshots/triage-queue-<locale>.png
and triage-decided-<locale>.png.

The connector, the rule and the imported ticket are committed in tenant alpha; the rule
and the connector are deleted afterwards (the ticket stays, like the other browser
tests' tickets).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fakes.servicenow import FakeServiceNow
from tests.browser.conftest import screenshot
from tests.browser.test_agent_desk import LOCALES, expected, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "triage-browser-token"  # noqa: S105 - the fake's own bearer token


def _relay() -> None:
    """What the worker does after the live server's commits: the outbox relay, and the
    triage runs it resumes (the `triage.run_advance` tasks), until nothing is left."""
    from apps.events.services.relay import relay_run
    from apps.triage.services.runs import run_sweep

    for _ in range(10):
        claimed = relay_run(budget_seconds=30).claimed
        swept = run_sweep()
        if not claimed and not swept["advanced"] and not swept["resumed"]:
            break


@pytest.fixture
def snow():
    with FakeServiceNow(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def imported(alpha, settings, snow):
    """An incident imported from the fake as a ticket of tenant alpha, with the waiting
    proposal of a rule made for it: {"sys_id", "number", "proposal", "ops_group", "marker"}."""
    settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK = True  # the fake listens on 127.0.0.1
    settings.WARDEN_CONNECTORS_RESOLVER = "tests.fakes.dns.resolve"
    marker = "tri" + uuid.uuid4().hex[:8]
    ops_group = snow.add_group("Ops")
    incident = snow.create(at=datetime.now(UTC) - timedelta(minutes=5), short_description="Printer out of toner",
                           description="The printer on floor 2 needs toner.")
    sys_id = incident["sys_id"]

    def build():
        from apps.accounts.models import Team, User
        from apps.connectors import breaker
        from apps.connectors.servicenow.models import IncidentLink
        from apps.connectors.servicenow.services import servicenow_poll
        from apps.connectors.services.connectors import connector_create
        from apps.tickets.models import Category
        from apps.triage.models import Proposal, Rule
        from apps.triage.services import rule_save, settings_update

        admin = User.objects.get(email="admin@alpha.test")
        settings_update(actor=admin, enabled=True)
        category = Category.objects.filter(archived=False).order_by("pk").first()
        rule = rule_save(actor=admin, rule=Rule(
            # Tenant alpha keeps metadata only: an imported ticket's title is its incident number.
            name=f"Printers {marker}", position=1, source="servicenow", pattern=rf"\b{incident['number']}\b",
            set_team=Team.objects.get(name="Ops"),
            set_category=category, set_impact=1, set_urgency=1, work_note=f"Routed to Ops by triage ({marker}).",
            confidence=Decimal("0.90")))
        connector = connector_create(actor=admin, kind="servicenow", name=f"snow-{marker}", base_url=snow.url,
                                     auth_scheme="bearer", secret=TOKEN, dry_run=False, daily_write_cap=100)
        breaker.reset(connector.pk)
        servicenow_poll(connector=connector, sleep=lambda seconds: None)
        _relay()  # the import's event: the rule proposes
        ticket = IncidentLink.objects.select_related("ticket").get(connector=connector, sys_id=sys_id).ticket
        proposal = Proposal.objects.get(ticket=ticket)
        assert proposal.status == "pending", proposal.status_reason
        return {"number": ticket.number, "proposal": proposal.pk, "rule": rule.pk, "connector": connector.pk}

    made = alpha(build)
    yield {**made, "sys_id": sys_id, "ops_group": ops_group, "marker": marker}

    def clean():
        from apps.accounts.models import User
        from apps.connectors.models import Connector
        from apps.connectors.services.connectors import connector_delete
        from apps.triage.models import Rule
        from apps.triage.services import rule_delete

        admin = User.objects.get(email="admin@alpha.test")
        for rule in Rule.objects.filter(pk=made["rule"]):
            rule_delete(actor=admin, rule=rule)
        for connector in Connector.objects.filter(pk=made["connector"]):
            connector_delete(actor=admin, connector=connector)

    alpha(clean)


@pytest.mark.parametrize("locale", LOCALES)
def test_an_agent_approves_an_imported_ticket_and_servicenow_gets_the_routing(live_url, page_factory, alpha, snow,
                                                                             imported, locale):
    page = page_factory(locale=locale)
    base = live_url.format(slug="alpha")
    sign_in(page, base, next_path="/desk/triage/")
    entry = page.locator(f"#proposal-{imported['proposal']}")
    entry.wait_for()
    assert page.locator("h1").first.inner_text() == expected("Triage", locale)
    text = entry.inner_text()
    assert f"#{imported['number']}" in text
    assert "ServiceNow INC" in text  # the incident it came from
    assert f"Printers {imported['marker']}" in text  # the rule that proposed it
    assert f"Routed to Ops by triage ({imported['marker']})." in text  # the work note
    assert "Ops" in text
    # The header's Triage link is the current page (not Queue).
    current = page.locator(".mainnav a[aria-current=page]")
    assert current.count() == 1
    assert current.get_attribute("href") == "/desk/triage/"
    entry.scroll_into_view_if_needed()
    screenshot(page, f"triage-queue-{locale}")

    # The ticket page's card leads back to the entry.
    page.goto(f"{base}/desk/tickets/{imported['number']}/")
    card = page.locator("#triage")
    card.wait_for()
    screenshot(page, f"triage-ticket-card-{locale}")
    card.locator("a").click()
    page.wait_for_url(f"{base}/desk/triage/#proposal-{imported['proposal']}")
    entry = page.locator(f"#proposal-{imported['proposal']}")

    entry.locator("form:has(input[name=verdict][value=approve]) button").click()
    done = page.locator(f"#proposal-{imported['proposal']} .triage-done")
    done.wait_for()
    assert f"#{imported['number']}" in done.inner_text()
    assert snow.get(imported["sys_id"])["assignment_group"] != imported["ops_group"]  # not before the relay

    def write_back():
        from apps.triage.models import Proposal

        _relay()  # the decision's event: the subscriber writes back through the connector
        proposal = Proposal.objects.get(pk=imported["proposal"])
        return proposal.writeback_status, proposal.writeback_detail

    status, detail = alpha(write_back)
    assert status == "sent", detail
    record = snow.get(imported["sys_id"])
    assert (record["assignment_group"], record["impact"], record["urgency"]) == (imported["ops_group"], "1", "1")
    assert snow.journal(imported["sys_id"])[-1]["value"] == f"Routed to Ops by triage ({imported['marker']})."

    page.goto(f"{base}/desk/triage/?show=decided")
    decided = page.locator(f"#proposal-{imported['proposal']}")
    decided.wait_for()
    assert "agent@alpha.test" in decided.inner_text()
    assert expected("sent", locale) in decided.inner_text()  # the write-back's outcome
    decided.scroll_into_view_if_needed()
    screenshot(page, f"triage-decided-{locale}")
