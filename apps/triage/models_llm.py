"""The tenant's language model for triage (docs/triage-llm.md).

* `LlmProvider`: at most one per tenant: which API (OpenAI, Azure OpenAI, Anthropic), its
  endpoint and the region that endpoint keeps data in, the model (or Azure deployment),
  the tenant's own API key (encrypted with apps.core.secrets, write-only: never shown,
  logged or audited), limits (timeout, output tokens) and the monthly caps with the
  prices used to meter cost.
* `LlmUsage`: one row per month: requests, tokens in and out, cost. The classifier adds
  to it with one UPDATE (F expressions) after every call and reads it before calling.

Imported at the end of `apps.triage.models`; imports nothing else of the app.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["KIND_HOSTS", "LlmKind", "LlmProvider", "LlmUsage"]


class LlmKind(models.TextChoices):
    OPENAI = "openai", _("OpenAI")
    AZURE_OPENAI = "azure_openai", _("Azure OpenAI")
    ANTHROPIC = "anthropic", _("Anthropic")


# The hosts each kind may call (the SSRF guard's allow-list, besides the tenant's verified
# custom domains); the default base URL where the kind has one.
KIND_HOSTS: dict[str, tuple[str, ...]] = {
    LlmKind.OPENAI: ("api.openai.com", "*.api.openai.com"),
    LlmKind.AZURE_OPENAI: ("*.openai.azure.com", "*.cognitiveservices.azure.com"),
    LlmKind.ANTHROPIC: ("api.anthropic.com",),
}
DEFAULT_BASE_URLS: dict[str, str] = {
    LlmKind.OPENAI: "https://api.openai.com/v1",
    LlmKind.ANTHROPIC: "https://api.anthropic.com",
}

PRICE = [MinValueValidator(Decimal("0"))]


class LlmProvider(models.Model):
    singleton = models.BooleanField(default=True, editable=False)
    kind = models.CharField(_("provider"), max_length=16, choices=LlmKind.choices)
    base_url = models.CharField(
        _("endpoint"), max_length=300, blank=True,
        help_text=_("https:// on port 443. Empty: the provider's public endpoint (OpenAI, Anthropic). Azure OpenAI: "
                    "your resource, e.g. https://acme.openai.azure.com."))
    region = models.CharField(
        _("endpoint region"), max_length=8,
        help_text=_("Where the endpoint processes and keeps the data it is sent (e.g. eu). Must be one of the "
                    "organisation's allowed regions."))
    model = models.CharField(_("model or deployment"), max_length=100,
                             help_text=_("The model name; for Azure OpenAI, the deployment name."))
    api_version = models.CharField(_("API version"), max_length=32, blank=True,
                                   help_text=_("Azure OpenAI only, e.g. 2024-10-21."))
    api_key = models.TextField(_("API key (encrypted)"), blank=True, editable=False)
    api_key_set_at = models.DateTimeField(_("API key set"), null=True, blank=True, editable=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    timeout_seconds = models.PositiveSmallIntegerField(
        _("timeout (seconds)"), default=10, validators=[MinValueValidator(1), MaxValueValidator(60)])
    max_output_tokens = models.PositiveIntegerField(
        _("maximum output tokens"), default=400, validators=[MinValueValidator(50), MaxValueValidator(4000)])
    monthly_token_cap = models.PositiveBigIntegerField(
        _("monthly token cap"), null=True, blank=True, default=1_000_000,
        help_text=_("Input and output tokens per calendar month; once reached, tickets are routed by people until "
                    "the month ends. Empty: no token cap."))
    monthly_cost_cap = models.DecimalField(
        _("monthly cost cap"), max_digits=12, decimal_places=2, null=True, blank=True, validators=PRICE,
        help_text=_("In the currency of the prices below. Empty: no cost cap."))
    price_input_per_1k = models.DecimalField(_("price per 1,000 input tokens"), max_digits=12, decimal_places=6,
                                             default=Decimal("0"), validators=PRICE)
    price_output_per_1k = models.DecimalField(_("price per 1,000 output tokens"), max_digits=12, decimal_places=6,
                                              default=Decimal("0"), validators=PRICE)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("language model")
        verbose_name_plural = _("language model")
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="triage_llm_provider_single"),
            models.CheckConstraint(condition=models.Q(singleton=True), name="triage_llm_provider_singleton_true"),
            models.CheckConstraint(condition=models.Q(kind__in=[k.value for k in LlmKind]),
                                   name="triage_llm_provider_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"<LlmProvider {self.pk} {self.label}>"

    @property
    def label(self) -> str:
        """`provider:model`, as stored on proposals."""
        return f"{self.kind}:{self.model}"[:100]

    @property
    def api_key_is_set(self) -> bool:
        return bool(self.api_key)


class LlmUsage(models.Model):
    month = models.DateField(_("month"), unique=True, help_text=_("The first day of the month."))
    requests = models.PositiveIntegerField(_("requests sent"), default=0)
    failures = models.PositiveIntegerField(_("failed requests"), default=0)
    input_tokens = models.PositiveBigIntegerField(_("input tokens"), default=0)
    output_tokens = models.PositiveBigIntegerField(_("output tokens"), default=0)
    cost = models.DecimalField(_("cost"), max_digits=14, decimal_places=6, default=Decimal("0"))

    class Meta:
        verbose_name = _("language model usage")
        verbose_name_plural = _("language model usage")
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.input_tokens + self.output_tokens} tokens"

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens
