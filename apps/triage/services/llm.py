"""Setting up the tenant's language model (policy `triage.configure`, audited).

The API key is encrypted (apps.core.secrets) before it is stored and is never shown
back, logged or audited: audit events say only *that* it was replaced. The endpoint
passes the connectors' SSRF guard when saved (and again before every call); its region
must be one of the organisation's allowed regions.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.connectors import guard
from apps.connectors.client import check_url
from apps.connectors.selectors import verified_domain_patterns
from apps.core import secrets
from apps.core.errors import ApplicationError
from apps.policies.services import policy_require
from apps.tenants import residency

from ..models_llm import DEFAULT_BASE_URLS, KIND_HOSTS, LlmKind, LlmProvider
from .proposals import TRIAGE_CONFIGURE

PROVIDER_FIELDS = ("kind", "base_url", "region", "model", "api_version", "enabled", "timeout_seconds",
                   "max_output_tokens", "monthly_token_cap", "monthly_cost_cap", "price_input_per_1k",
                   "price_output_per_1k")


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, errors={field: [message]})


def _check_region(region: str) -> None:
    tenant = getattr(connection, "tenant", None)
    if region not in settings.WARDEN_REGIONS or (tenant is not None and hasattr(tenant, "allowed_regions")
                                                 and not residency.region_allowed(tenant, region)):
        raise _invalid("region", _("The organisation's data may not go to region %(region)s.") % {"region": region})


def _check_url(provider: LlmProvider, *, resolver=None) -> str:
    url = (provider.base_url or "").strip().rstrip("/")
    if not url:
        if provider.kind not in DEFAULT_BASE_URLS:
            raise _invalid("base_url", _("Give your Azure OpenAI resource's endpoint."))
        return ""
    try:
        target = check_url(url, hosts=[*KIND_HOSTS.get(provider.kind, ()), *verified_domain_patterns()],
                           resolver=resolver).target
    except guard.UrlRefused as exc:
        messages = {
            "host_not_allowed": _("This host is not allowed for this provider (add it as a verified custom domain of "
                                  "the connectors first)."),
            "address": _("The host name resolves to an internal or reserved address."),
            "dns": _("The host name could not be resolved."),
        }
        raise _invalid("base_url", messages.get(exc.code, _("Only https:// URLs on port 443 with a host name are "
                                                            "allowed."))) from None
    if "?" in target.path or "#" in url:
        raise _invalid("base_url", _("The endpoint takes no query or fragment."))
    return url


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 0 and 0.000000 are the same price
    return str(value)


def _audit_view(provider: LlmProvider) -> dict:
    return {name: _text(value) for name, value in model_to_dict(provider, fields=PROVIDER_FIELDS).items()}


@transaction.atomic
def llm_provider_save(*, actor, provider: LlmProvider, api_key: str | None = None, resolver=None) -> LlmProvider:
    """Create or change the tenant's language model (the instance as the admin form filled
    it). `api_key` None or "" keeps the key that is set (write-only)."""
    policy_require(actor, TRIAGE_CONFIGURE, None, {"object": "llm_provider", "operation": "save"})
    created = provider.pk is None
    if created and LlmProvider.objects.exists():
        raise ApplicationError(_("A language model is set up already; change that one."))
    previous = None if created else LlmProvider.objects.select_for_update().get(pk=provider.pk)
    provider.singleton = True
    provider.api_key = previous.api_key if previous is not None else ""
    provider.api_key_set_at = previous.api_key_set_at if previous is not None else None
    provider.model = (provider.model or "").strip()
    provider.api_version = (provider.api_version or "").strip()
    try:
        provider.full_clean(exclude=["api_key", "api_key_set_at"])
    except ValidationError as exc:
        errors = {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
        raise ApplicationError(next(iter(errors.values()))[0], errors=errors) from None
    if provider.kind == LlmKind.AZURE_OPENAI and not provider.api_version:
        raise _invalid("api_version", _("Azure OpenAI needs the API version, e.g. 2024-10-21."))
    if provider.monthly_token_cap is None and provider.monthly_cost_cap is None:
        raise _invalid("monthly_token_cap", _("Set a monthly token cap, a monthly cost cap, or both."))
    if provider.monthly_cost_cap is not None and not (provider.price_input_per_1k or provider.price_output_per_1k):
        raise _invalid("price_input_per_1k", _("A cost cap needs the prices per 1,000 tokens."))
    _check_region(provider.region)
    if previous is None or provider.base_url.strip().rstrip("/") != previous.base_url:
        provider.base_url = _check_url(provider, resolver=resolver)
    api_key = (api_key or "").strip()
    now = timezone.now()
    if api_key:
        provider.api_key, provider.api_key_set_at = secrets.encrypt(api_key), now
    if not provider.api_key:
        raise _invalid("new_api_key", _("An API key is required."))
    before = _audit_view(previous) if previous is not None else {}
    after = _audit_view(provider)
    changed = sorted(name for name in after if before.get(name) != after[name])
    if not created and not changed and not api_key:
        return provider
    provider.updated_at = now
    if created:
        provider.created_at = now
    provider.save()
    audit_record(actor=actor, action="triage.llm_configured" if created else "triage.llm_changed", target=provider,
                 payload={"provider_id": provider.pk, "fields": changed,
                          "before": {k: before.get(k) for k in changed}, "after": {k: after[k] for k in changed},
                          "key_replaced": bool(api_key)})
    return provider


@transaction.atomic
def llm_provider_delete(*, actor, provider: LlmProvider) -> None:
    policy_require(actor, TRIAGE_CONFIGURE, None, {"object": "llm_provider", "operation": "delete"})
    audit_record(actor=actor, action="triage.llm_deleted", target=provider,
                 payload={"provider_id": provider.pk, **_audit_view(provider)})
    LlmProvider.objects.filter(pk=provider.pk).delete()


def llm_provider_disable_unreadable(provider: LlmProvider) -> None:
    """No configured key decrypts the stored API key (`rotate_secrets`): switch the model
    off (tickets go to people) and say so in the audit chain. Not a policy decision: the
    system protecting itself."""
    with transaction.atomic():
        if LlmProvider.objects.filter(pk=provider.pk, enabled=True).update(enabled=False, updated_at=timezone.now()):
            audit_record(actor=None, actor_label="triage", action="triage.llm_disabled", target=provider,
                         payload={"provider_id": provider.pk, "reason": "api_key_unreadable"})
