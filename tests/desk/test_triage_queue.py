"""The desk's triage queue: waiting proposals shown as a diff, approved (as they are or
edited first) or rejected with a reason through the triage services; refusals (stale,
already decided, below the floor) shown with the service's message; agents only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.tickets.models import Ticket, TicketComment
from apps.triage import services
from apps.triage.choices import ProposalStatus
from apps.triage.models import Decision, Proposal
from tests.triage.conftest import categories, make_rule, new_ticket, ops, relay  # noqa: F401 - fixtures (relay: and the runs)

pytestmark = pytest.mark.django_db

QUEUE = "/desk/triage/"


@pytest.fixture
def proposed(make_rule, new_ticket, relay):  # noqa: F811
    """A ticket that matched the printer rule, with its waiting proposal."""
    make_rule()
    ticket = new_ticket()
    relay()
    return ticket, Proposal.objects.get(ticket=ticket)


def decide_url(proposal) -> str:
    return reverse("desk:triage-decide", kwargs={"proposal_id": proposal.pk})


def test_the_queue_lists_waiting_proposals_as_a_diff(proposed, web_as, agent_user):
    ticket, proposal = proposed
    assert reverse("desk:triage") == QUEUE
    page = web_as(agent_user).get(QUEUE)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'id="proposal-{proposal.pk}"' in html
    assert f'href="/desk/tickets/{ticket.number}/"' in html
    assert ticket.title in html
    assert "Hardware › Printers" in html  # the category by its path
    assert "Ops" in html  # the team by its name
    assert "Routed to Ops by the printer rule." in html  # the work note's text
    assert "Printers to Ops" in html
    assert "0.90" in html
    assert "keywords: printer, toner" in html  # rationale
    assert f'name="proposal" value="{proposal.pk}"' in html  # bulk-approvable: rules, above the floor
    assert 'href="/desk/triage/"' in html  # the desk's link to the queue


def test_approving_applies_the_proposal(proposed, web_as, agent_user, categories, ops):  # noqa: F811
    ticket, proposal = proposed
    response = web_as(agent_user).post(decide_url(proposal), {"verdict": "approve", "version": 1}, follow=True)
    assert response.status_code == 200
    assert f"Approved and applied to ticket #{ticket.number}." in response.content.decode()
    ticket.refresh_from_db()
    assert (ticket.category_id, ticket.team_id, ticket.urgency) == (categories["printers"].pk, ops.pk, 1)
    assert TicketComment.objects.filter(ticket=ticket, internal=True, author=agent_user).exists()
    decision = Decision.objects.get(proposal=proposal)
    assert (decision.verdict, decision.channel, decision.decided_by) == ("approve", "web", agent_user)


def test_approving_in_place_with_htmx_returns_the_entry(proposed, web_as, agent_user):
    ticket, proposal = proposed
    response = web_as(agent_user).post(decide_url(proposal), {"verdict": "approve", "version": 1},
                                       HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"proposal-{proposal.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<article")
    assert f'id="proposal-{proposal.pk}"' in html
    assert "Approved and applied" in html
    assert "agent@alpha.test" in html


def test_a_rejection_requires_a_reason(proposed, web_as, agent_user):
    ticket, proposal = proposed
    client = web_as(agent_user)
    refused = client.post(decide_url(proposal), {"verdict": "reject", "version": 1, "reason": "  "})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "A reason is required." in html
    assert 'role="alert"' in html
    assert not Decision.objects.filter(proposal=proposal).exists()
    in_place = client.post(decide_url(proposal), {"verdict": "reject", "version": 1, "reason": ""},
                           HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"proposal-{proposal.pk}")
    assert in_place.status_code == 422
    assert "A reason is required." in in_place.content.decode()

    done = client.post(decide_url(proposal), {"verdict": "reject", "version": 1, "reason": "Not a printer"})
    assert done.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decision.reason) == (ProposalStatus.REJECTED, "Not a printer")
    assert Ticket.objects.get(pk=ticket.pk).category_id is None
    decided = client.get(QUEUE + "?show=decided").content.decode()
    assert "Not a printer" in decided
    assert "agent@alpha.test" in decided


def test_edit_then_approve_applies_the_edited_routing(proposed, web_as, agent_user, categories):  # noqa: F811
    ticket, proposal = proposed
    client = web_as(agent_user)
    url = reverse("desk:triage-edit", kwargs={"proposal_id": proposal.pk})
    form = client.get(url)
    assert form.status_code == 200
    html = form.content.decode()
    assert f'<option value="{categories["printers"].pk}" selected>Hardware › Printers</option>' in html
    assert "Routed to Ops by the printer rule." in html

    nothing = client.post(url, {"version": 1})
    assert nothing.status_code == 400
    assert "Choose at least one change" in nothing.content.decode()

    response = client.post(url, {"version": 1, "category": categories["network"].pk, "team": "", "impact": "",
                                 "urgency": "3", "work_note": "Network, not printers."})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.category_id, ticket.urgency) == (categories["network"].pk, 3)
    decision = Decision.objects.get(proposal=proposal)
    assert decision.changes == {"category": categories["network"].pk, "urgency": 3, "work_note": "Network, not printers."}
    assert TicketComment.objects.get(ticket=ticket, internal=True).body == "Network, not printers."


def test_a_stale_decision_shows_the_services_message(proposed, web_as, agent_user, agent2_user, categories):  # noqa: F811
    ticket, proposal = proposed
    services.proposal_edit(actor=agent2_user, proposal_id=proposal.pk, version=1,
                           changes={"category": categories["hardware"].pk})
    client = web_as(agent_user)
    response = client.post(decide_url(proposal), {"verdict": "approve", "version": 1})
    assert response.status_code == 409
    html = response.content.decode()
    assert "The proposal was edited since you saw it (version 1, now 2); look again." in html
    assert 'role="alert"' in html
    assert Ticket.objects.get(pk=ticket.pk).category_id is None
    # The entry is still there, with a fresh form carrying the new version.
    assert 'name="version" value="2"' in html

    # Someone rerouted the ticket meanwhile: the proposal is superseded, the page says why.
    from apps.tickets import services as tickets

    tickets.ticket_update(actor=agent2_user, ticket=Ticket.objects.get(pk=ticket.pk), category=categories["network"].pk)
    edited = client.post(reverse("desk:triage-edit", kwargs={"proposal_id": proposal.pk}),
                         {"version": 2, "category": categories["hardware"].pk})
    assert edited.status_code == 409
    assert "changed since the proposal (category)" in edited.content.decode()

    # Approving one that is decided already: a conflict, not a 500.
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.SUPERSEDED
    again = client.post(decide_url(proposal), {"verdict": "approve", "version": 2})
    assert again.status_code == 409
    assert "no longer waiting" in again.content.decode()


def test_requesters_and_visitors_cannot_use_the_queue(proposed, web_as, requester_user, client):
    ticket, proposal = proposed
    requester = web_as(requester_user)
    assert requester.get(QUEUE).status_code == 403
    assert requester.post(decide_url(proposal), {"verdict": "approve", "version": 1}).status_code == 403
    anonymous = client.get(QUEUE, HTTP_HOST="alpha.localhost")
    assert anonymous.status_code == 302
    assert "login" in anonymous["Location"]
    assert not Decision.objects.filter(proposal=proposal).exists()


def test_bulk_approval_refuses_proposals_below_the_floor(make_rule, new_ticket, relay, web_as, agent_user,  # noqa: F811
                                                         categories):  # noqa: F811
    make_rule()
    make_rule(name="Weak network", keywords="network", set_category=categories["network"], set_team=None,
              set_impact=None, set_urgency=None, work_note="", confidence=Decimal("0.50"))
    strong, weak = new_ticket(), new_ticket(title="network down")
    relay()
    strong_p, weak_p = Proposal.objects.get(ticket=strong), Proposal.objects.get(ticket=weak)
    client = web_as(agent_user)
    html = client.get(QUEUE).content.decode()
    assert f'name="proposal" value="{strong_p.pk}"' in html
    assert f'name="proposal" value="{weak_p.pk}"' not in html  # no checkbox below the floor

    response = client.post(reverse("desk:triage-bulk"), {"proposal": [strong_p.pk, weak_p.pk]}, follow=True)
    html = response.content.decode()
    assert "Approved 1 proposals" in html
    assert f"Not approved: ticket #{weak.number}" in html
    assert "confidence floor (0.70)" in html
    strong_p.refresh_from_db()
    weak_p.refresh_from_db()
    assert (strong_p.status, weak_p.status) == (ProposalStatus.APPLIED, ProposalStatus.PENDING)


def test_unclassified_tickets_are_listed_as_needing_a_person(new_ticket, relay, web_as, agent_user,  # noqa: F811
                                                            monkeypatch):
    from apps.triage.services import classify

    def broken(ticket):
        return classify.Classification(classifier="llm", confidence=Decimal("0"), rationale="", changes={},
                                       model="fake:model", failure="the model did not answer within 10 s")

    monkeypatch.setattr(classify, "_FALLBACKS", [broken])
    ticket = new_ticket(title="Something odd")
    relay()
    client = web_as(agent_user)
    assert "Something odd" not in client.get(QUEUE).content.decode()
    html = client.get(QUEUE + "?show=person").content.decode()
    assert "Something odd" in html
    assert "the model did not answer within 10 s" in html
    assert f'href="/desk/tickets/{ticket.number}/"' in html


def test_the_ticket_page_shows_a_waiting_proposal(proposed, web_as, agent_user, django_assert_max_num_queries):
    ticket, proposal = proposed
    client = web_as(agent_user)
    with django_assert_max_num_queries(20):
        page = client.get(f"/desk/tickets/{ticket.number}/")
    html = page.content.decode()
    assert "Proposed routing" in html
    assert f'href="/desk/triage/#proposal-{proposal.pk}"' in html
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="reject", version=1, reason="No")
    assert "Proposed routing" not in client.get(f"/desk/tickets/{ticket.number}/").content.decode()


def test_the_queue_reads_a_bounded_number_of_queries(make_rule, new_ticket, relay, web_as, agent_user,  # noqa: F811
                                                     django_assert_max_num_queries):
    make_rule()
    for n in range(5):
        new_ticket(title=f"Printer {n} jammed")
    relay()
    client = web_as(agent_user)
    with django_assert_max_num_queries(20):
        assert client.get(QUEUE).status_code == 200


def test_a_policy_denial_shows_its_message_and_changes_nothing(proposed, web_as, agent_user, admin_user):
    from apps.policies.baseline import BASELINE_RULES
    from apps.policies.services import policy_publish

    ticket, proposal = proposed
    policy_publish(actor=admin_user, rules=[*BASELINE_RULES, {
        "name": "no triage by agents", "subject": "role:agent", "action": "ticket.triage", "effect": "deny",
        "priority": 50}])
    client = web_as(agent_user)
    response = client.post(decide_url(proposal), {"verdict": "approve", "version": 1})
    assert response.status_code == 403
    html = response.content.decode()
    assert "Not allowed to ticket.triage" in html
    assert 'role="alert"' in html
    in_place = client.post(decide_url(proposal), {"verdict": "approve", "version": 1},
                           HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"proposal-{proposal.pk}")
    assert in_place.status_code == 422
    assert "Not allowed to ticket.triage" in in_place.content.decode()
    assert not Decision.objects.filter(proposal=proposal).exists()
    assert Ticket.objects.get(pk=ticket.pk).category_id is None
