"""Setting up the language model (service and admin form: policy, audit, the key
write-only, region and endpoint checks) and the answer schema (pure)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import RequestFactory

from apps.audit.models import AuditEvent
from apps.core import secrets
from apps.core.errors import ApplicationError
from apps.policies.decisions import PolicyDenied
from apps.triage.llm import schema
from apps.triage.models import LlmProvider
from apps.triage.services.llm import llm_provider_save

KEY = "sk-setup-key-0123456789-never-shown"


def _provider(**values) -> LlmProvider:
    return LlmProvider(**{"kind": "openai", "base_url": "", "region": "eu", "model": "gpt-test", **values})


@pytest.mark.django_db
def test_saving_encrypts_the_key_and_audits_without_it(admin_user):
    provider = llm_provider_save(actor=admin_user, provider=_provider(), api_key=KEY)
    assert secrets.decrypt(provider.api_key) == KEY
    assert provider.base_url == ""  # the public endpoint
    event = AuditEvent.objects.get(action="triage.llm_configured")
    assert event.payload_data["key_replaced"] is True
    assert KEY not in json.dumps(event.payload_data)
    assert provider.api_key not in json.dumps(event.payload_data)


@pytest.mark.django_db
def test_a_blank_key_keeps_the_current_one(admin_user):
    provider = llm_provider_save(actor=admin_user, provider=_provider(), api_key=KEY)
    stored = provider.api_key
    provider.model = "gpt-other"
    provider = llm_provider_save(actor=admin_user, provider=provider, api_key="")
    assert provider.api_key == stored
    changed = AuditEvent.objects.get(action="triage.llm_changed")
    assert changed.payload_data["fields"] == ["model"]


@pytest.mark.django_db
@pytest.mark.parametrize(("values", "field"), [
    ({"region": "us"}, "region"),
    ({"kind": "azure_openai", "base_url": "https://acme.openai.azure.com"}, "api_version"),
    ({"kind": "azure_openai", "api_version": "2024-10-21"}, "base_url"),
    ({"base_url": "https://evil.example.com/v1"}, "base_url"),
    ({"base_url": "http://127.0.0.1:8030/v1"}, "base_url"),  # loopback only when the deployment allows it
    ({"monthly_token_cap": None}, "monthly_token_cap"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
])
def test_bad_settings_are_form_errors(admin_user, values, field):
    with pytest.raises(ApplicationError) as caught:
        llm_provider_save(actor=admin_user, provider=_provider(**values), api_key=KEY)
    assert field in caught.value.errors
    assert not LlmProvider.objects.exists()


@pytest.mark.django_db
def test_a_key_is_required_and_one_provider_per_tenant(admin_user):
    with pytest.raises(ApplicationError) as caught:
        llm_provider_save(actor=admin_user, provider=_provider())
    assert "new_api_key" in caught.value.errors
    llm_provider_save(actor=admin_user, provider=_provider(), api_key=KEY)
    with pytest.raises(ApplicationError):
        llm_provider_save(actor=admin_user, provider=_provider(), api_key=KEY)


@pytest.mark.django_db
def test_agents_may_not_configure_the_model(agent_user):
    with pytest.raises(PolicyDenied):
        llm_provider_save(actor=agent_user, provider=_provider(), api_key=KEY)


@pytest.mark.django_db
def test_admin_form_never_shows_the_key_back(admin_user, agent_user):
    from django.contrib import admin as django_admin

    from apps.triage.admin_llm import LlmProviderAdmin

    provider = llm_provider_save(actor=admin_user, provider=_provider(), api_key=KEY)
    model_admin = LlmProviderAdmin(LlmProvider, django_admin.site)
    request = RequestFactory().get("/admin/triage/llmprovider/")
    request.user = admin_user
    form_class = model_admin.get_form(request, provider, change=True)
    rendered = str(form_class(instance=provider))
    assert KEY not in rendered
    assert provider.api_key not in rendered
    assert model_admin.api_key_status(provider) == "set (not shown)"
    assert not model_admin.has_add_permission(request)  # one per tenant
    data = {"kind": "openai", "base_url": "", "region": "eu", "model": "gpt-4o-mini", "api_version": "",
            "enabled": "on", "timeout_seconds": 5, "max_output_tokens": 300, "monthly_token_cap": 5000,
            "monthly_cost_cap": "", "price_input_per_1k": "0", "price_output_per_1k": "0", "new_api_key": ""}
    form = form_class(data=data, instance=provider)
    assert form.is_valid(), form.errors
    provider.refresh_from_db()
    assert (provider.model, provider.timeout_seconds) == ("gpt-4o-mini", 5)
    assert secrets.decrypt(provider.api_key) == KEY  # blank kept it
    request.user = agent_user
    assert not model_admin.has_module_permission(request)


# --- The answer schema (pure) ------------------------------------------------------------------


GOOD = {"category": 3, "team": 7, "impact": 2, "urgency": 1, "work_note": "Check the toner.", "confidence": 0.825,
        "rationale": "Mentions a printer."}


def _parse(value) -> schema.Answer:
    return schema.parse(value if isinstance(value, str) else json.dumps(value), category_ids=[3, 4], team_ids=[7])


def test_a_valid_answer_is_parsed():
    answer = _parse(GOOD)
    assert (answer.category, answer.team, answer.impact, answer.urgency) == (3, 7, 2, 1)
    assert answer.confidence == Decimal("0.83")
    assert _parse("```json\n" + json.dumps(GOOD) + "\n```").category == 3


@pytest.mark.parametrize(("answer", "reason"), [
    ("", "empty"),
    ("Printers, probably.", "not valid JSON"),
    ('{"confidence": NaN}', "not valid JSON"),
    ([GOOD], "schema"),
    ({**GOOD, "impact": 0}, "schema"),
    ({**GOOD, "urgency": "1"}, "schema"),
    ({**GOOD, "team": True}, "schema"),
    ({**GOOD, "confidence": -0.1}, "schema"),
    ({**GOOD, "work_note": "x" * 501}, "schema"),
    ({**GOOD, "extra": 1}, "schema"),
    ({key: value for key, value in GOOD.items() if key != "rationale"}, "schema"),
    ({**GOOD, "category": 5}, "not offered"),
    ({**GOOD, "team": 8}, "not offered"),
    ({**GOOD, "category": None, "team": None}, "neither"),
])
def test_invalid_answers_are_refused(answer, reason):
    with pytest.raises(schema.AnswerInvalid) as caught:
        _parse(answer)
    assert reason in caught.value.reason
