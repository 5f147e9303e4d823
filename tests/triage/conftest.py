"""Fixtures of the triage tests: categories, a rule, a ticket to route."""

from __future__ import annotations

from decimal import Decimal

import pytest


@pytest.fixture
def categories(tenant, admin_user):
    from apps.tickets import services

    hardware = services.category_create(actor=admin_user, name="Hardware")
    printers = services.category_create(actor=admin_user, name="Printers", parent=hardware)
    network = services.category_create(actor=admin_user, name="Network")
    return {"hardware": hardware, "printers": printers, "network": network}


@pytest.fixture
def ops(tenant):
    from apps.accounts.models import Team

    return Team.objects.get(name="Ops")


@pytest.fixture
def make_rule(admin_user, categories, ops):
    from apps.triage.models import Rule
    from apps.triage.services import rule_save

    def make(**values):
        values = {"name": "Printers to Ops", "keywords": "printer, toner", "set_category": categories["printers"],
                  "set_team": ops, "set_impact": 2, "set_urgency": 1, "work_note": "Routed to Ops by the printer rule.",
                  "confidence": Decimal("0.90"), **values}
        return rule_save(actor=admin_user, rule=Rule(**values))

    return make


@pytest.fixture
def new_ticket(requester_user):
    from apps.tickets import services

    def make(title="The printer on floor 2 is out of toner", **values):
        return services.ticket_create(actor=requester_user, title=title, **values)

    return make


@pytest.fixture
def relay(relay):
    """The outbox relay, then what the `triage.run_advance` tasks sent after its commits
    would do (in a test's transaction nothing commits): the sweep advances every run that
    is due, until neither has anything left."""
    from apps.triage.services.runs import run_sweep

    def run(rounds: int = 10) -> int:
        delivered = 0
        for _ in range(rounds):
            now_delivered = relay(rounds)
            swept = run_sweep()
            delivered += now_delivered
            if not now_delivered and not swept["advanced"] and not swept["resumed"]:
                break
        return delivered

    return run
