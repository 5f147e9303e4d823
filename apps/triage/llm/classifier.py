"""The language-model classifier: tried for a ticket no rule matched, when the tenant set
up a provider (registered in `TriageConfig.ready()`).

In order, before anything leaves Warden:

1. no provider, or it is switched off: None (nothing to say);
2. the endpoint's region must be one of the tenant's allowed regions, else the call is
   refused, audited (`triage.llm_refused`) and the ticket goes to people;
3. the month's usage is read: a token or cost cap reached means no call at all, and
   the ticket goes to people until the first of next month;
4. the API key is decrypted and the endpoint passes the connectors' SSRF guard again
   (DNS may have changed since it was saved);
5. the input is built for the tenant's data mode: metadata-only tenants send metadata
   (source, current category, priority, impact, urgency, the requester's email domain)
   and the lists of categories and teams; full-content tenants add title and description.

Then one request (timeout, output-token limit), the tokens and cost added to the
month's `LlmUsage`, one audit event (`triage.llm_asked`: ids, model, prompt hash, token
counts under `usage`; never the key or the text), and the answer parsed and validated. Any failure
returns a Classification with `failure` set and no changes: the ticket goes to the
people's queue with that reason, nothing is written to it.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import Team
from apps.audit.services import audit_record, tenant_is_metadata_only
from apps.connectors import guard
from apps.connectors.client import check_url
from apps.connectors.selectors import verified_domain_patterns
from apps.core import secrets
from apps.tenants import residency
from apps.tickets.models import Category, Ticket

from ..choices import Classifier
from ..models_llm import DEFAULT_BASE_URLS, KIND_HOSTS, LlmProvider, LlmUsage
from ..services.classify import Classification
from . import prompts, providers, schema

logger = logging.getLogger(__name__)

MAX_CATEGORIES = 300
MAX_TEAMS = 100
MAX_DESCRIPTION = 4000
ACTOR = "triage"


# --- Helpers (usable by the admin and tests) ------------------------------------------------


def month_start(today: date | None = None) -> date:
    return (today or timezone.now().date()).replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=1) + timedelta(days=32)).replace(day=1)


def usage_get(month: date | None = None) -> LlmUsage:
    """This month's usage (an unsaved zero row when nothing was sent yet)."""
    month = month or month_start()
    return LlmUsage.objects.filter(month=month).first() or LlmUsage(month=month)


def cap_reached(provider: LlmProvider, usage: LlmUsage) -> bool:
    if provider.monthly_token_cap is not None and usage.tokens >= provider.monthly_token_cap:
        return True
    return provider.monthly_cost_cap is not None and usage.cost >= provider.monthly_cost_cap


def cost_of(provider: LlmProvider, input_tokens: int, output_tokens: int) -> Decimal:
    cost = (Decimal(input_tokens) * provider.price_input_per_1k + Decimal(output_tokens) * provider.price_output_per_1k)
    return (cost / 1000).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def meter(month: date, *, failures: int = 0, input_tokens: int = 0, output_tokens: int = 0,
          cost: Decimal = Decimal("0")) -> None:
    """Add one request to the month's usage, in one UPDATE (concurrent workers add up)."""
    increments = {"requests": F("requests") + 1, "failures": F("failures") + failures,
                  "input_tokens": F("input_tokens") + input_tokens, "output_tokens": F("output_tokens") + output_tokens,
                  "cost": F("cost") + cost}
    if LlmUsage.objects.filter(month=month).update(**increments):
        return
    try:
        with transaction.atomic():
            LlmUsage.objects.create(month=month, requests=1, failures=failures, input_tokens=input_tokens,
                                    output_tokens=output_tokens, cost=cost)
    except IntegrityError:  # another worker made the row meanwhile
        LlmUsage.objects.filter(month=month).update(**increments)


def _tenant():
    tenant = getattr(connection, "tenant", None)
    if tenant is not None and hasattr(tenant, "effective_allowed_regions"):
        return tenant
    from apps.tenants.models import Tenant

    return Tenant.objects.filter(schema_name=connection.schema_name).first()  # a FakeTenant from schema_context()


def region_allowed(region: str) -> tuple[bool, list[str]]:
    tenant = _tenant()
    allowed = list(tenant.effective_allowed_regions) if tenant is not None else []
    return (tenant is not None and residency.region_allowed(tenant, region)), allowed


def endpoint(provider: LlmProvider) -> str:
    return (provider.base_url or DEFAULT_BASE_URLS.get(provider.kind, "")).strip().rstrip("/")


def check_endpoint(provider: LlmProvider, *, resolver=None) -> str:
    """The provider's endpoint through the SSRF guard (UrlRefused when refused)."""
    url = endpoint(provider)
    check_url(url, hosts=[*KIND_HOSTS.get(provider.kind, ()), *verified_domain_patterns()], resolver=resolver)
    return url


# --- The input ----------------------------------------------------------------------------------


def _category_paths() -> dict[int, str]:
    rows = {row["pk"]: row for row in Category.objects.values("pk", "name", "parent_id", "archived")}
    paths: dict[int, str] = {}
    for pk in rows:
        names, seen, current = [], set(), pk
        while current is not None and current in rows and current not in seen:
            seen.add(current)
            names.append(rows[current]["name"])
            current = rows[current]["parent_id"]
        paths[pk] = " / ".join(reversed(names))
    return paths


def build_input(ticket: Ticket, *, full_content: bool) -> tuple[dict, list[int], list[int]]:
    """(the input sent, offered category ids, offered team ids)."""
    paths = _category_paths()
    live = set(Category.objects.filter(archived=False).values_list("pk", flat=True))
    categories = sorted(((pk, path) for pk, path in paths.items() if pk in live), key=lambda item: item[1].lower())
    categories = categories[:MAX_CATEGORIES]
    teams = list(Team.objects.order_by("name").values_list("pk", "name")[:MAX_TEAMS])
    email = getattr(ticket.requester, "email", "") or ""
    facts = {
        "source": ticket.source or "",
        "category": paths.get(ticket.category_id) if ticket.category_id else None,
        "priority": ticket.priority,
        "impact": ticket.impact,
        "urgency": ticket.urgency,
        "requester_domain": email.rsplit("@", 1)[1].lower() if "@" in email else "",
    }
    if full_content:
        facts["title"] = ticket.title or ""
        facts["description"] = (ticket.description or "")[:MAX_DESCRIPTION]
    data = {
        "ticket": facts,
        "categories": [{"id": pk, "path": path} for pk, path in categories],
        "teams": [{"id": pk, "name": name} for pk, name in teams],
    }
    return data, [pk for pk, _path in categories], [pk for pk, _name in teams]


def _usage(reply: providers.Reply, cost: Decimal) -> dict:
    # Token counts for the audit chain, under keys its secret redaction leaves alone.
    return {"input": reply.input_tokens, "output": reply.output_tokens, "cost": str(cost)}


# --- The classifier -----------------------------------------------------------------------------


def configured() -> bool:
    """Is a provider set up and switched on in this tenant (one small query)?"""
    return LlmProvider.objects.filter(singleton=True, enabled=True).exists()


def classify(ticket: Ticket) -> Classification | None:
    provider = LlmProvider.objects.filter(singleton=True).first()
    if provider is None or not provider.enabled:
        return None
    version = prompts.CURRENT
    proof = {"classifier": Classifier.LLM, "model": provider.label, "prompt_version": version,
             "prompt_hash": prompts.digest(version)}

    def failed(reason: str) -> Classification:
        return Classification(confidence=Decimal("0"), rationale="", changes={}, failure=reason, **proof)

    def audit(action: str, **payload) -> None:
        audit_record(actor=None, actor_label=ACTOR, action=action, target=ticket,
                     payload={"ticket_id": ticket.pk, "provider_id": provider.pk, "kind": provider.kind,
                              "model": provider.label, "region": provider.region, "prompt_version": version,
                              "prompt_hash": proof["prompt_hash"], **payload})

    allowed, regions = region_allowed(provider.region)
    if not allowed:
        logger.warning("triage: language model refused for ticket %s: region %s not allowed", ticket.pk,
                       provider.region)
        audit("triage.llm_refused", reason="region", allowed_regions=regions)
        return failed(_("The language model's region (%(region)s) is not one of the organisation's allowed regions "
                        "(%(allowed)s): nothing was sent.") % {"region": provider.region,
                                                              "allowed": ", ".join(regions) or "-"})
    month = month_start()
    if cap_reached(provider, usage_get(month)):
        return failed(_("monthly cap reached: routed by people until %(date)s")
                      % {"date": next_month(month).isoformat()})
    try:
        api_key = secrets.decrypt(provider.api_key) if provider.api_key else ""
    except secrets.SecretUnreadable:
        api_key = ""
    if not api_key:
        return failed(_("The language model's API key is not set or cannot be read; an admin must set it again."))
    try:
        url = check_endpoint(provider)
    except guard.UrlRefused as exc:
        logger.warning("triage: language model endpoint refused for ticket %s (%s)", ticket.pk, exc.code)
        audit("triage.llm_refused", reason="endpoint", code=exc.code)
        return failed(_("The language model's endpoint was refused (%(code)s): nothing was sent.") % {"code": exc.code})

    full_content = not tenant_is_metadata_only()
    data, category_ids, team_ids = build_input(ticket, full_content=full_content)
    system, user = prompts.render(data, version)
    sent = {"data_mode": "full_content" if full_content else "metadata_only", "fields": sorted(data["ticket"]),
            "categories": len(category_ids), "teams": len(team_ids)}
    try:
        reply = providers.complete(kind=provider.kind, base_url=url, api_key=api_key, model=provider.model,
                                   api_version=provider.api_version, system=system, user=user,
                                   timeout=provider.timeout_seconds, max_tokens=provider.max_output_tokens)
    except providers.ProviderError as exc:
        if exc.sent:
            meter(month, failures=1)
        logger.warning("triage: language model gave no answer for ticket %s (%s)", ticket.pk, exc.code)
        audit("triage.llm_asked", outcome=exc.code, usage={"input": 0, "output": 0, "cost": "0"}, **sent)
        return failed(_("The language model gave no answer: %(why)s.") % {"why": exc.message})
    cost = cost_of(provider, reply.input_tokens, reply.output_tokens)
    try:
        answer = schema.parse(reply.text, category_ids=category_ids, team_ids=team_ids)
    except schema.AnswerInvalid as exc:
        meter(month, failures=1, input_tokens=reply.input_tokens, output_tokens=reply.output_tokens, cost=cost)
        logger.warning("triage: language model answer unusable for ticket %s", ticket.pk)
        audit("triage.llm_asked", outcome="invalid", usage=_usage(reply, cost), **sent)
        return failed(_("The language model's answer was unusable (%(why)s): nothing was proposed.")
                      % {"why": exc.reason})
    meter(month, input_tokens=reply.input_tokens, output_tokens=reply.output_tokens, cost=cost)
    audit("triage.llm_asked", outcome="ok", usage=_usage(reply, cost), confidence=str(answer.confidence), **sent)
    changes: dict = {"impact": answer.impact, "urgency": answer.urgency}
    if answer.category is not None:
        changes["category"] = answer.category
    if answer.team is not None:
        changes["team"] = answer.team
    if answer.work_note:
        changes["work_note"] = answer.work_note
    return Classification(confidence=answer.confidence, rationale=answer.rationale, changes=changes,
                          detail={"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens,
                                  "cost": str(cost)}, **proof)
