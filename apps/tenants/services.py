"""Creating, suspending and reactivating tenants."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils.translation import gettext
from django_tenants.utils import schema_context

from apps.core import governance
from apps.core.errors import ApplicationError, PermissionDenied
from apps.core.timezones import is_zone

from . import cloning, provisioning
from . import schema as schemas
from .models import SLUG_VALIDATOR, Domain, Region, Tenant, TenantStatus, allowed_regions_problems, region_time_zone

logger = logging.getLogger(__name__)

SYSTEM_LABEL = "system"

RESERVED_SLUGS = frozenset({"public", "www", "api", "admin", "static", "media", "platform", "information_schema"})


@dataclass
class ProvisionResult:
    tenant: Tenant
    created: bool
    admin_created: bool
    admin_email: str
    seconds: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "slug": self.tenant.slug,
            "name": self.tenant.name,
            "schema": self.tenant.schema_name,
            "region": self.tenant.region,
            "time_zone": self.tenant.time_zone,
            "domain": tenant_domain(self.tenant.slug),
            "url": self.tenant.url(),
            "created": self.created,
            "admin_email": self.admin_email,
            "admin_created": self.admin_created,
            "seconds": round(self.seconds, 3),
        }


def tenant_domain(slug: str) -> str:
    return f"{slug}.{settings.WARDEN_BASE_DOMAIN}"


def schema_name_for(slug: str) -> str:
    return "t_" + slug.replace("-", "_")


def validate_new_tenant(*, slug: str, name: str, region: str, time_zone: str | None = None) -> None:
    """The checks provisioning makes before touching anything (for forms)."""
    _validate(slug.strip().lower(), name, region, time_zone=time_zone)


def _validate(
    slug: str,
    name: str,
    region: str,
    *,
    admin_email: str | None = None,
    allowed_regions: list[str] | None = None,
    time_zone: str | None = None,
) -> None:
    """Everything provisioning can check before it writes, reported together."""
    errors: dict[str, list[str]] = {}
    try:
        SLUG_VALIDATOR(slug)
    except ValidationError as exc:
        errors["slug"] = list(exc.messages)
    if slug in RESERVED_SLUGS:
        errors["slug"] = [gettext("%(slug)r is reserved.") % {"slug": slug}]
    if not name.strip():
        errors["name"] = [gettext("A name is required.")]
    if region not in Region.values:
        errors["region"] = [gettext("Use one of: %(values)s.") % {"values": ", ".join(Region.values)}]
    if admin_email is not None:
        try:
            validate_email(admin_email)
        except ValidationError:
            errors["admin_email"] = [f"{admin_email!r} is not an email address."]
    if allowed_regions:
        problems = allowed_regions_problems(allowed_regions, home=region)
        if problems:
            errors["allowed_regions"] = problems
    if time_zone and not is_zone(time_zone):
        errors["time_zone"] = [_unknown_zone(time_zone)]
    if errors:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
        raise ApplicationError(detail, errors=errors)


def _clone_base_into(schema_name: str) -> None:
    """Copy the migrated base schema (tables, migration records) into a new schema."""
    base = schemas.base_schema_name()
    applied = schemas.ensure_base_ready()
    cloning.clone_schema(source=base, target=schema_name, version=frozenset(applied))


def ensure_public_tenant() -> Tenant:
    """The public schema's tenant row and the platform host. Idempotent."""
    tenant, _ = Tenant.objects.get_or_create(
        schema_name="public", defaults={"slug": "public", "name": "Warden platform"}
    )
    Domain.objects.update_or_create(
        domain=settings.WARDEN_BASE_DOMAIN, defaults={"tenant": tenant, "is_primary": True}
    )
    return tenant


def tenant_provision(
    *,
    slug: str,
    name: str,
    region: str,
    admin_email: str,
    admin_password: str | None = None,
    allowed_regions: list[str] | None = None,
    time_zone: str | None = None,
    actor=None,
    actor_label: str = SYSTEM_LABEL,
) -> ProvisionResult:
    """Create (or find) the tenant `slug`: schema, domain, first admin. Idempotent.

    `time_zone` (an IANA name) is the zone its people see times in unless they choose
    their own; None: the region's (`REGION_TIME_ZONES`, the zone of the office calendar
    the SLA defaults give it). Change it later with `tenant_set_time_zone`.

    Running it again with the same slug changes nothing and reports `created: false`.
    It never adds people: naming an email that is not already one of the tenant's
    admins is refused (an operator who mistyped the email would otherwise get a second,
    silent admin); `create_user --role admin` is the way to add one. `actor` is the
    platform admin doing it from the admin site, or None for an operator command
    (`actor_label` says who, e.g. `operator:alice`) or the system.
    """
    started = time.perf_counter()
    if actor is not None:
        _require_platform_admin(actor)
        actor_label = f"platform:{actor.email}"
    slug = slug.strip().lower()
    admin_email = admin_email.strip().lower()
    time_zone = (time_zone or "").strip() or None
    _validate(slug, name, region, admin_email=admin_email, allowed_regions=allowed_regions, time_zone=time_zone)
    connection.set_schema_to_public()
    existing = Tenant.objects.filter(slug=slug).first()
    if existing and existing.region != region:
        raise ApplicationError(
            f"Tenant {slug!r} already exists in region {existing.region!r}; a region cannot be changed here."
        )
    if existing and time_zone and existing.time_zone != time_zone:
        message = (
            f"Tenant {slug!r} already exists with the time zone {existing.time_zone}; "
            "change it on the tenant's page of the platform admin, not by provisioning again."
        )
        raise ApplicationError(message, errors={"time_zone": [message]})
    if existing and schemas.schema_exists(existing.schema_name):
        _check_existing_admin(existing, admin_email)
    created = existing is None
    with transaction.atomic():
        if created:
            tenant = Tenant(
                slug=slug,
                name=name.strip(),
                region=region,
                schema_name=schema_name_for(slug),
                allowed_regions=allowed_regions or [],
                time_zone=time_zone or region_time_zone(region),
            )
            tenant.full_clean(exclude=["schema_name"])
            tenant.save()
        else:
            tenant = existing
        fresh_schema = not schemas.schema_exists(tenant.schema_name)
        if fresh_schema:
            _clone_base_into(tenant.schema_name)
        Domain.objects.get_or_create(
            domain=tenant_domain(slug), defaults={"tenant": tenant, "is_primary": True}
        )
        with schema_context(tenant.schema_name):
            if fresh_schema:
                _initialise_schema(tenant, actor_label)
            admin_created = _ensure_first_admin(admin_email, admin_password, actor_label)
    connection.set_schema_to_public()
    result = ProvisionResult(
        tenant=tenant,
        created=created,
        admin_created=admin_created,
        admin_email=admin_email,
        seconds=time.perf_counter() - started,
    )
    logger.info("tenant %s provisioned (created=%s) in %.3fs", slug, created, result.seconds)
    return result


def _check_existing_admin(tenant: Tenant, email: str) -> None:
    """Re-running provisioning must name one of the tenant's admins (see tenant_provision)."""
    from apps.accounts.models import Role, User

    with schema_context(tenant.schema_name):
        admins = list(
            User.objects.filter(role=Role.ADMIN, is_active=True).order_by("email").values_list("email", flat=True)
        )
    connection.set_schema_to_public()
    if email in admins:
        return
    shown = ", ".join(admins[:3]) + (" ..." if len(admins) > 3 else "") if admins else "none"
    raise ApplicationError(
        f"Tenant {tenant.slug!r} already exists and {email} is not one of its admins (admins: {shown}); "
        f"provisioning does not add admins: use `create_user --tenant {tenant.slug} --email {email} --role admin`.",
        errors={"admin_email": [f"{email} is not an admin of the existing tenant {tenant.slug!r}."]},
    )


def _initialise_schema(tenant: Tenant, actor_label: str) -> None:
    """First writes into a freshly cloned schema: its first audit event, then what the
    apps above give every new tenant (`provisioning`: governance baseline, SLA defaults)."""
    governance.record_system(
        action="tenant.provisioned",
        payload={"slug": tenant.slug, "region": tenant.region, "schema": tenant.schema_name, "time_zone": tenant.time_zone},
        actor_label=actor_label,
    )
    provisioning.run_steps(tenant)


def _ensure_first_admin(email: str, password: str | None, actor_label: str) -> bool:
    from apps.accounts.models import Role, User
    from apps.accounts.services import user_create

    if User.objects.filter(email__iexact=email).exists():
        return False
    user_create(
        email=email, role=Role.ADMIN, password=password, full_name="Administrator", validate=False,
        actor_label=actor_label,
    )
    return True


def _require_platform_admin(actor) -> None:
    """Platform-level writes (tenant rows live in public) are for platform admins only.

    The tenant's policy engine cannot decide these: it lives in the tenant schema and
    has no say over whether the tenant exists or is suspended.
    """
    from apps.accounts.permissions import is_platform_admin

    if not is_platform_admin(actor):
        raise PermissionDenied(gettext("Only platform administrators may do this."))


@transaction.atomic
def tenant_suspend(*, tenant: Tenant, reason: str, actor=None) -> Tenant:
    """Refuse every request to the tenant (403) until reactivated. `actor` None = operator/system."""
    if actor is not None:
        _require_platform_admin(actor)
    if tenant.is_public:
        raise ApplicationError(gettext("The platform itself cannot be suspended."))
    if not reason.strip():
        raise ApplicationError(gettext("Say why the tenant is suspended."),
                               errors={"reason": [gettext("A reason is required.")]})
    tenant.status = TenantStatus.SUSPENDED
    tenant.suspended_reason = reason.strip()[:500]
    tenant.save(update_fields=["status", "suspended_reason"])
    _audit_in_tenant(tenant, "tenant.suspended", {"reason": tenant.suspended_reason}, actor)
    return tenant


@transaction.atomic
def tenant_activate(*, tenant: Tenant, actor=None) -> Tenant:
    if actor is not None:
        _require_platform_admin(actor)
    tenant.status = TenantStatus.ACTIVE
    tenant.suspended_reason = ""
    tenant.save(update_fields=["status", "suspended_reason"])
    _audit_in_tenant(tenant, "tenant.activated", {}, actor)
    return tenant


def _audit_in_tenant(tenant: Tenant, action: str, payload: dict, actor) -> None:
    """Platform actions on a tenant are recorded in that tenant's own chain."""
    label = f"platform:{actor.email}" if actor is not None and getattr(actor, "email", None) else "platform"
    with schema_context(tenant.schema_name):
        governance.record_system(action=action, payload=payload, actor_label=label)


TENANT_SECURITY = "tenant.security"  # a built-in action of apps.policies


def tenant_set_admin_mfa(*, tenant: Tenant, required: bool, actor) -> Tenant:
    """Require (or stop requiring) TOTP for the tenant's admins, on the web and the API.

    Two people may change it. A tenant admin, from the tenant's Security page, inside
    the tenant schema: the tenant's own policies decide (action `tenant.security`, which
    the baseline grants to admins), and the change is audited as theirs. A platform
    admin, from the platform admin site: audited as `platform:<email>` in the tenant's
    chain. Nobody else, and never for the public tenant.
    """
    if tenant.is_public:
        raise ApplicationError(gettext("The platform has no tenant admins."))
    required = bool(required)
    in_tenant = connection.schema_name == tenant.schema_name
    if in_tenant:
        # Asked before our transaction opens, so a denial stays recorded when we raise.
        governance.require(actor, TENANT_SECURITY, tenant, {"mfa_required_for_admins": required})
    with transaction.atomic():
        if in_tenant:
            locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
            previous = locked.mfa_required_for_admins
            if previous != required:
                Tenant.objects.filter(pk=tenant.pk).update(mfa_required_for_admins=required)
                governance.record(
                    actor=actor, action="tenant.mfa_policy_changed", target=None,
                    payload={"mfa_required_for_admins": required, "previous": previous},
                )
        else:
            _require_platform_admin(actor)
            locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
            previous = locked.mfa_required_for_admins
            if previous != required:
                Tenant.objects.filter(pk=tenant.pk).update(mfa_required_for_admins=required)
                _audit_in_tenant(
                    tenant, "tenant.mfa_policy_changed",
                    {"mfa_required_for_admins": required, "previous": previous}, actor,
                )
    tenant.mfa_required_for_admins = required
    return tenant


TENANT_CONFIGURE = "tenant.configure"  # a built-in action of apps.policies


def _unknown_zone(name: str) -> str:
    return gettext("Unknown time zone %(zone)r: use an IANA name such as Europe/Warsaw.") % {"zone": name}


def tenant_set_time_zone(*, tenant: Tenant, time_zone: str, actor) -> Tenant:
    """Set the zone the tenant's people see dates and times in, unless they chose their own.

    As `tenant_set_admin_mfa`: a tenant admin from the tenant's own admin ("Time zone"
    page), decided by the tenant's policies (action `tenant.configure`, which the
    baseline grants to admins) and audited as theirs; or a platform admin from the
    platform admin, audited in the tenant's chain as `platform:<email>`. Either way the
    event is `tenant.time_zone_changed` with the previous and the new zone. SLA
    calendars keep their own zones: business hours are where the team works.
    """
    if tenant.is_public:
        raise ApplicationError(gettext("The platform's own time zone is UTC."))
    time_zone = (time_zone or "").strip()
    if not is_zone(time_zone):
        message = _unknown_zone(time_zone)
        raise ApplicationError(message, errors={"time_zone": [message]})
    in_tenant = connection.schema_name == tenant.schema_name
    if in_tenant:
        # Asked before our transaction opens, so a denial stays recorded when we raise.
        governance.require(actor, TENANT_CONFIGURE, tenant, {"time_zone": time_zone})
    else:
        _require_platform_admin(actor)
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        previous = locked.time_zone
        if previous != time_zone:
            Tenant.objects.filter(pk=tenant.pk).update(time_zone=time_zone)
            payload = {"time_zone": time_zone, "previous": previous}
            if in_tenant:
                governance.record(actor=actor, action="tenant.time_zone_changed", target=None, payload=payload)
            else:
                _audit_in_tenant(tenant, "tenant.time_zone_changed", payload, actor)
    tenant.time_zone = time_zone
    return tenant
