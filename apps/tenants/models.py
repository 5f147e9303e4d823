"""Tenants (customer organisations) and their host names. Public schema only."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin

from apps.core.timezones import validate_time_zone

SLUG_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$",
    _("3-40 characters: lower-case letters, digits and hyphens, starting with a letter."),
)
COLOUR_VALIDATOR = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour like #1f6feb."))


class Region(models.TextChoices):
    EU = "eu", _("European Union")
    US = "us", _("United States")


# A new tenant's time zone unless the platform admin names another: the zone of the
# region's default office calendar (apps/sla/services/defaults.py uses this mapping).
REGION_TIME_ZONES = {Region.EU: "Europe/Warsaw", Region.US: "America/New_York"}


def region_time_zone(region: str) -> str:
    return REGION_TIME_ZONES.get(region, REGION_TIME_ZONES[Region.EU])


class DataMode(models.TextChoices):
    METADATA_ONLY = "metadata_only", _("Metadata only")
    FULL_CONTENT = "full_content", _("Full content")


class TenantStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")


def default_allowed_regions() -> list[str]:
    return []


def allowed_regions_problems(value, *, home: str | None) -> list[str]:
    """What is wrong with an `allowed_regions` value ([] when nothing).

    A list of distinct known regions; when not empty it must include the tenant's home
    region, where its database rows and files are kept: a tenant that its own region
    may not serve could never be reached by anyone (docs/decisions/0004-residency.md).
    """
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        return [str(_("A list of regions, e.g. [\"eu\", \"us\"]."))]
    problems = []
    unknown = sorted({r for r in value if r not in Region.values})
    if unknown:
        problems.append(str(_("Unknown region(s): %(unknown)s; use %(known)s.") % {
            "unknown": ", ".join(unknown), "known": ", ".join(Region.values)}))
    if len(set(value)) != len(value):
        problems.append(str(_("Each region once.")))
    if value and home and home not in value:
        problems.append(str(_("Must include the home region %(home)s (or be empty).") % {"home": home}))
    return problems


class Tenant(TenantMixin):
    """A customer organisation; its data lives in the PostgreSQL schema `schema_name`."""

    slug = models.SlugField(_("slug"), max_length=40, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(_("name"), max_length=200)
    region = models.CharField(_("region"), max_length=8, choices=Region.choices, default=Region.EU)
    allowed_regions = models.JSONField(
        _("allowed regions"),
        default=default_allowed_regions,
        blank=True,
        help_text=_("Deployments that may serve this tenant; empty means only its own region."),
    )
    data_mode = models.CharField(
        _("data mode"), max_length=16, choices=DataMode.choices, default=DataMode.METADATA_ONLY
    )
    status = models.CharField(
        _("status"), max_length=12, choices=TenantStatus.choices, default=TenantStatus.ACTIVE
    )
    suspended_reason = models.CharField(_("suspension reason"), max_length=500, blank=True)
    mfa_required_for_admins = models.BooleanField(_("require MFA for tenant admins"), default=False)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text=_(
            "Dates and times are shown in this zone to everyone who has not chosen their own (an IANA name, "
            "e.g. Europe/Warsaw)."
        ),
    )
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    logo = models.URLField(_("logo URL"), blank=True)
    primary_colour = models.CharField(
        _("primary colour"), max_length=7, default="#1f4f8f", validators=[COLOUR_VALIDATOR]
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    # Schemas are created by apps.tenants.services (cloned from the base schema), never
    # implicitly on save() inside a request.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(region__in=[r.value for r in Region]),
                name="tenant_region_valid",
                violation_error_message=_("Unknown region."),
            ),
            models.CheckConstraint(
                condition=models.Q(allowed_regions__contained_by=[r.value for r in Region]),
                name="tenant_allowed_regions_known",
                violation_error_message=_("Unknown region in allowed regions."),
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.name or self.schema_name

    def clean(self) -> None:
        super().clean()
        problems = allowed_regions_problems(self.allowed_regions, home=self.region)
        if problems:
            raise ValidationError({"allowed_regions": problems})

    @property
    def is_public(self) -> bool:
        return self.schema_name == "public"

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE

    @property
    def effective_allowed_regions(self) -> list[str]:
        return list(self.allowed_regions) or [self.region]

    @property
    def brand_name(self) -> str:
        return self.display_name or self.name

    def url(self, path: str = "/") -> str:
        port = getattr(settings, "WARDEN_PUBLIC_PORT", "")
        host = f"{self.slug}.{settings.WARDEN_BASE_DOMAIN}"
        return f"http://{host}{':' + str(port) if port else ''}{path}"


class Domain(DomainMixin):
    class Meta:
        verbose_name = _("domain")
        verbose_name_plural = _("domains")
