"""The language-model classifier end to end: a new ticket no rule matches goes through the
outbox to the tenant's model (the fake provider over real HTTP on 127.0.0.1, through the
official SDKs), and comes back as a proposal, or as an `unclassified` entry with a clear
reason and nothing written to the ticket."""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.tenants.models import DataMode
from apps.tickets.models import Ticket
from apps.triage.choices import ProposalStatus
from apps.triage.llm import classifier, prompts
from apps.triage.models import LlmProvider, LlmUsage, Proposal
from apps.triage.services.llm import llm_provider_save
from fakes.llm import FakeLLM

pytestmark = pytest.mark.django_db

KEY = "sk-test-0123456789-never-shown-anywhere"
TITLE = "The printer on floor 2 is out of toner"
DESCRIPTION = "Confidential: the quarterly numbers are stuck in the printer queue."
MODELS = {"openai": "gpt-test", "azure_openai": "triage-deployment", "anthropic": "claude-test"}


@pytest.fixture
def fake_llm():
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def make_llm(settings, fake_llm, admin_user):
    settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK = True

    def make(kind: str = "openai", **values) -> LlmProvider:
        base = {"openai": f"{fake_llm.url}/v1", "azure_openai": fake_llm.url, "anthropic": fake_llm.url}[kind]
        fields = {"kind": kind, "base_url": base, "region": "eu", "model": MODELS[kind],
                  "api_version": "2024-10-21" if kind == "azure_openai" else "", "timeout_seconds": 2,
                  "price_input_per_1k": Decimal("0.5"), "price_output_per_1k": Decimal("1.5"), **values}
        return llm_provider_save(actor=admin_user, provider=LlmProvider(**fields), api_key=KEY)

    return make


@pytest.fixture
def full_content(tenant):
    tenant.data_mode = DataMode.FULL_CONTENT  # the connection's tenant, this test only
    yield tenant
    tenant.data_mode = DataMode.METADATA_ONLY


def _route(new_ticket, relay, **values):
    ticket = new_ticket(**values)
    relay()
    return ticket, Proposal.objects.filter(ticket=ticket).first()


def _unclassified(proposal, ticket, fragment: str) -> None:
    assert proposal is not None
    assert proposal.status == ProposalStatus.UNCLASSIFIED
    assert proposal.changes == {}
    assert fragment in proposal.status_reason, proposal.status_reason
    untouched = Ticket.objects.get(pk=ticket.pk)
    assert (untouched.category_id, untouched.team_id, untouched.urgency) == (ticket.category_id, ticket.team_id,
                                                                             ticket.urgency)
    assert AuditEvent.objects.filter(action="triage.unclassified").exists()


@pytest.mark.parametrize("kind", ["openai", "azure_openai", "anthropic"])
def test_a_ticket_no_rule_matches_gets_a_language_model_proposal(kind, make_llm, fake_llm, full_content, new_ticket,
                                                                 relay, categories, ops):
    make_llm(kind)
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    assert proposal is not None
    assert proposal.status == ProposalStatus.PENDING
    assert proposal.classifier == "llm"
    assert proposal.model == f"{kind}:{MODELS[kind]}"
    assert proposal.prompt_version == prompts.CURRENT == "triage-v1"
    assert proposal.prompt_hash == prompts.digest()
    assert len(proposal.prompt_hash) == 64
    assert proposal.confidence == Decimal("0.86")
    assert proposal.changes["category"] == categories["printers"].pk
    assert proposal.changes["team"] == ops.pk
    assert "printer" in proposal.rationale
    assert Ticket.objects.get(pk=ticket.pk).category_id is None  # proposed, not written
    (seen,) = fake_llm.requests
    assert seen.api == kind
    if kind == "azure_openai":
        assert seen.deployment == MODELS[kind]
    else:
        assert seen.body["model"] == MODELS[kind]
    assert seen.system == prompts.template()


def test_metadata_only_tenant_sends_no_title_or_description(make_llm, fake_llm, new_ticket, relay, tenant, categories):
    assert tenant.data_mode == DataMode.METADATA_ONLY
    make_llm()
    _route(new_ticket, relay, title=TITLE, description=DESCRIPTION)
    (seen,) = fake_llm.requests
    sent = seen.input
    assert set(sent["ticket"]) == {"source", "category", "priority", "impact", "urgency", "requester_domain"}
    assert sent["ticket"]["requester_domain"] == "alpha.test"
    assert {c["path"] for c in sent["categories"]} >= {"Hardware / Printers", "Network"}
    assert {t["name"] for t in sent["teams"]} >= {"Desk", "Ops"}
    raw = json.dumps(seen.body)
    assert "printer on floor" not in raw
    assert "quarterly" not in raw
    event = AuditEvent.objects.filter(action="triage.llm_asked").latest("seq")
    assert event.payload_data["data_mode"] == "metadata_only"


def test_full_content_tenant_sends_title_and_description(make_llm, fake_llm, full_content, new_ticket, relay,
                                                         categories):
    make_llm("anthropic")
    _route(new_ticket, relay, title=TITLE, description=DESCRIPTION)
    (seen,) = fake_llm.requests
    assert seen.input["ticket"]["title"] == TITLE
    assert "quarterly numbers" in seen.input["ticket"]["description"]


def test_usage_is_metered_per_month(make_llm, fake_llm, full_content, new_ticket, relay, categories):
    make_llm()
    _route(new_ticket, relay, title=TITLE)
    _route(new_ticket, relay, title="Network is down on floor 3")
    usage = LlmUsage.objects.get(month=classifier.month_start())
    assert usage.requests == 2
    assert usage.failures == 0
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0
    expected = (Decimal(usage.input_tokens) * Decimal("0.5") + Decimal(usage.output_tokens) * Decimal("1.5")) / 1000
    assert abs(usage.cost - expected) < Decimal("0.00001")
    event = AuditEvent.objects.filter(action="triage.llm_asked").latest("seq")
    assert event.payload_data["outcome"] == "ok"
    assert event.payload_data["prompt_hash"] == prompts.digest()
    assert event.payload_data["usage"]["input"] > 0
    assert event.payload_data["usage"]["output"] > 0


def test_provider_timeout_leaves_the_ticket_to_people(make_llm, fake_llm, full_content, new_ticket, relay, categories):
    make_llm(timeout_seconds=1)
    fake_llm.slow(3)
    started = time.monotonic()
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    assert time.monotonic() - started < 2.9
    _unclassified(proposal, ticket, "did not answer within 1 s")
    assert LlmUsage.objects.get(month=classifier.month_start()).failures == 1


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_rate_limited_provider_leaves_the_ticket_to_people(kind, make_llm, fake_llm, full_content, new_ticket, relay,
                                                           categories):
    make_llm(kind)
    fake_llm.rate_limit(retry_after=7)
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    _unclassified(proposal, ticket, "HTTP 429, retry after 7 s")
    assert len(fake_llm.requests) == 1  # no retry by the SDK


def test_invalid_json_is_no_proposal(make_llm, fake_llm, full_content, new_ticket, relay, categories):
    make_llm("azure_openai")
    fake_llm.invalid_json()
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    _unclassified(proposal, ticket, "not valid JSON")
    usage = LlmUsage.objects.get(month=classifier.month_start())
    assert (usage.requests, usage.failures) == (1, 1)
    assert usage.input_tokens > 0


@pytest.mark.parametrize(("answer", "fragment"), [
    ({"category": None, "team": None, "impact": 5, "urgency": 1, "confidence": 0.9, "rationale": "x"}, "schema"),
    ({"category": 999999, "team": None, "impact": 1, "urgency": 1, "confidence": 0.9, "rationale": "x"},
     "not offered"),
    ({"category": None, "team": None, "impact": 1, "urgency": 1, "confidence": 0.9, "rationale": "x",
      "assignee": 1}, "schema"),
    ({"category": None, "team": None, "impact": 1, "urgency": 1, "confidence": 1.5, "rationale": "x"}, "schema"),
])
def test_an_answer_violating_the_schema_is_no_proposal(answer, fragment, make_llm, fake_llm, full_content, new_ticket,
                                                       relay, categories):
    make_llm()
    fake_llm.answer(answer)
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    _unclassified(proposal, ticket, fragment)


def test_a_work_note_too_long_is_refused(make_llm, fake_llm, full_content, new_ticket, relay, categories, ops):
    make_llm()
    fake_llm.answer({"category": categories["printers"].pk, "team": ops.pk, "impact": 1, "urgency": 1,
                     "confidence": 0.9, "rationale": "x", "work_note": "n" * 501})
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    _unclassified(proposal, ticket, "work_note")


def test_a_region_outside_the_allowed_ones_is_refused_and_audited(make_llm, fake_llm, full_content, new_ticket, relay,
                                                                  categories):
    provider = make_llm()
    LlmProvider.objects.filter(pk=provider.pk).update(region="us")  # the tenant's allowed regions: eu only
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    _unclassified(proposal, ticket, "(us) is not one of the organisation's allowed regions")
    assert fake_llm.requests == []
    refused = AuditEvent.objects.get(action="triage.llm_refused")
    assert refused.payload_data["reason"] == "region"
    assert refused.payload_data["allowed_regions"] == ["eu"]
    assert refused.actor_label == "triage"


@pytest.mark.parametrize("cap", [{"monthly_token_cap": 100},
                                 {"monthly_token_cap": None, "monthly_cost_cap": Decimal("0.05")}])
def test_monthly_cap_reached_goes_to_people_without_calling(cap, make_llm, fake_llm, full_content, new_ticket, relay,
                                                            categories):
    make_llm(**cap)
    LlmUsage.objects.create(month=classifier.month_start(), requests=3, input_tokens=60, output_tokens=40,
                            cost=Decimal("0.05"))
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    until = classifier.next_month(classifier.month_start()).isoformat()
    _unclassified(proposal, ticket, f"monthly cap reached: routed by people until {until}")
    assert fake_llm.requests == []
    assert LlmUsage.objects.get(month=classifier.month_start()).requests == 3


def test_a_switched_off_or_missing_model_says_nothing(make_llm, fake_llm, full_content, new_ticket, relay, admin_user,
                                                      categories):
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    assert proposal is None
    provider = make_llm()
    provider.enabled = False
    llm_provider_save(actor=admin_user, provider=provider)
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    assert proposal is None
    assert fake_llm.requests == []


def test_rules_come_first(make_llm, fake_llm, full_content, make_rule, new_ticket, relay):
    make_llm()
    make_rule()
    _ticket, proposal = _route(new_ticket, relay, title=TITLE)
    assert proposal.classifier == "rules"
    assert fake_llm.requests == []


def test_the_key_and_the_text_never_reach_logs_or_audit(make_llm, fake_llm, full_content, new_ticket, relay,
                                                        categories, caplog):
    caplog.set_level(logging.DEBUG)
    provider = make_llm()
    _route(new_ticket, relay, title=TITLE, description=DESCRIPTION)
    fake_llm.rate_limit()
    _route(new_ticket, relay, title=TITLE, description=DESCRIPTION)
    fake_llm.invalid_json()
    _route(new_ticket, relay, title=TITLE, description=DESCRIPTION)
    (seen, *_rest) = fake_llm.requests
    assert KEY in seen.headers.get("authorization", "")  # it was sent to the provider, and only there
    assert KEY not in caplog.text
    assert provider.api_key not in caplog.text
    assert "quarterly numbers" not in caplog.text
    provider.refresh_from_db()
    assert KEY not in provider.api_key  # stored encrypted
    events = list(AuditEvent.objects.filter(action__startswith="triage."))
    assert {"triage.llm_configured", "triage.llm_asked", "triage.unclassified", "triage.proposed"} <= {
        e.action for e in events}
    for event in events:
        dumped = json.dumps(event.payload_data)
        assert KEY not in dumped
        assert provider.api_key not in dumped
        assert "quarterly numbers" not in dumped
    asked = [e.payload_data for e in events if e.action == "triage.llm_asked"]
    assert {p["outcome"] for p in asked} == {"ok", "rate_limited", "invalid"}


def test_an_unreachable_endpoint_is_a_clear_reason(make_llm, full_content, new_ticket, relay, categories):
    provider = make_llm()
    LlmProvider.objects.filter(pk=provider.pk).update(base_url="http://127.0.0.1:9/v1")  # discard port: refused
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    _unclassified(proposal, ticket, "could not be reached")


def test_the_endpoint_is_guarded_again_at_call_time(make_llm, fake_llm, full_content, new_ticket, relay, settings,
                                                    categories):
    make_llm()
    settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK = False  # e.g. a production deployment reading a copied row
    ticket, proposal = _route(new_ticket, relay, title=TITLE)
    _unclassified(proposal, ticket, "endpoint was refused")
    assert fake_llm.requests == []
    assert AuditEvent.objects.get(action="triage.llm_refused").payload_data["reason"] == "endpoint"
