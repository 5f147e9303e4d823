"""Demo data for `make demo`: two tenants, each with an admin, two agents in two teams
and two requesters. Built through the same services operators use."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django_tenants.utils import tenant_context

DEMO_PASSWORD = "warden-demo"
PLATFORM_ADMIN = "platform@warden.example"


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    region: str
    domain: str  # email domain
    colour: str
    agents: tuple[tuple[str, str, str], ...]  # (local part, full name, team)
    requesters: tuple[tuple[str, str], ...]


DEMO_TENANTS = (
    DemoTenant(
        slug="acme",
        name="Acme Manufacturing",
        region="eu",
        domain="acme.example",
        colour="#1f4f8f",
        agents=(("ola", "Ola Kowalska", "Service Desk"), ("jan", "Jan Nowak", "Infrastructure")),
        requesters=(("marta", "Marta Wiśniewska"), ("piotr", "Piotr Zieliński")),
    ),
    DemoTenant(
        slug="globex",
        name="Globex Corporation",
        region="us",
        domain="globex.example",
        colour="#7a3e9d",
        agents=(("sam", "Sam Carter", "Service Desk"), ("lee", "Lee Jordan", "Networks")),
        requesters=(("alex", "Alex Morgan"), ("jordan", "Jordan Lee")),
    ),
)


def seed_demo() -> list[dict]:
    from apps.accounts.models import Role, Team, User
    from apps.accounts.services import team_add_member, team_create, user_create

    from .services import tenant_provision

    summary = []
    if not User.objects.filter(email=PLATFORM_ADMIN).exists():  # public schema
        User.objects.create_superuser(PLATFORM_ADMIN, DEMO_PASSWORD, full_name="Platform Admin")
    for spec in DEMO_TENANTS:
        result = tenant_provision(
            slug=spec.slug, name=spec.name, region=spec.region,
            admin_email=f"admin@{spec.domain}", admin_password=DEMO_PASSWORD,
        )
        tenant = result.tenant
        if tenant.primary_colour != spec.colour:
            tenant.primary_colour = spec.colour
            tenant.save(update_fields=["primary_colour"])
        logins = [(f"admin@{spec.domain}", "admin")]
        with tenant_context(tenant), transaction.atomic():
            for local, full_name, team_name in spec.agents:
                email = f"{local}@{spec.domain}"
                user = User.objects.filter(email=email).first() or user_create(
                    email=email, role=Role.AGENT, password=DEMO_PASSWORD, full_name=full_name, validate=False
                )
                team = Team.objects.filter(name=team_name).first() or team_create(name=team_name, lead=user)
                team_add_member(team=team, user=user)
                logins.append((email, "agent"))
            for local, full_name in spec.requesters:
                email = f"{local}@{spec.domain}"
                if not User.objects.filter(email=email).exists():
                    user_create(email=email, role=Role.REQUESTER, password=DEMO_PASSWORD, full_name=full_name,
                                validate=False)
                logins.append((email, "requester"))
            _seed_extras(tenant)
        summary.append({"tenant": tenant, "logins": logins})
    return summary


def _seed_extras(tenant) -> None:
    """Hook for later apps (sample tickets, SLA policies) to add demo content."""
