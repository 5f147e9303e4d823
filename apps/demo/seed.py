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
    from apps.tenants.services import tenant_provision

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
            _seed_triage()  # also for a demo seeded before triage existed
            if spec.slug == DEMO_SERVICENOW_TENANT:
                _seed_servicenow()
                _seed_llm()
        summary.append({"tenant": tenant, "logins": logins})
    return summary


# `make demo` runs a fake ServiceNow on 127.0.0.1 (scripts/demo.sh) that acme polls.
DEMO_SERVICENOW_TENANT = "acme"
DEMO_SERVICENOW_NAME = "demo-servicenow"
DEMO_SERVICENOW_TOKEN = "demo-servicenow-token"  # noqa: S105 - the local fake's, printed by the fake itself
DEMO_LLM_KEY = "demo-llm-key"  # the local fake provider's (it accepts any key)


def demo_llm_url() -> str:
    import os

    return f"http://127.0.0.1:{os.environ.get('FAKE_LLM_PORT', '8898')}/v1"


def _seed_llm() -> None:
    """Acme's language model: the demo's fake OpenAI-compatible provider on loopback
    (`python -m fakes.llm`, scripts/demo.sh), for tickets no triage rule matches."""
    from django.conf import settings

    from apps.accounts.models import Role, User
    from apps.triage.models_llm import LlmKind, LlmProvider
    from apps.triage.services.llm import llm_provider_save

    if LlmProvider.objects.exists() or not settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK:
        return
    admin = User.objects.filter(role=Role.ADMIN).order_by("pk").first()
    llm_provider_save(actor=admin, api_key=DEMO_LLM_KEY, provider=LlmProvider(
        kind=LlmKind.OPENAI, base_url=demo_llm_url(), region="eu", model="demo-triage-model", timeout_seconds=10,
        max_output_tokens=400, monthly_token_cap=2_000_000))


def demo_servicenow_url() -> str:
    import os

    return f"http://127.0.0.1:{os.environ.get('FAKE_SERVICENOW_PORT', '8899')}"


def _seed_servicenow() -> None:
    """Acme's connector to the demo's fake ServiceNow (a loopback URL: local settings
    only, production refuses it). Live, not dry run: the fake is there to be written to."""
    from django.conf import settings

    from apps.accounts.models import Role, User
    from apps.connectors.models import Connector
    from apps.connectors.services.connectors import connector_create

    if Connector.objects.filter(name=DEMO_SERVICENOW_NAME).exists() or not settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK:
        return
    admin = User.objects.filter(role=Role.ADMIN).order_by("pk").first()
    connector_create(actor=admin, kind="servicenow", name=DEMO_SERVICENOW_NAME, base_url=demo_servicenow_url(),
                     auth_scheme="bearer", secret=DEMO_SERVICENOW_TOKEN, dry_run=False, daily_write_cap=200)


SAMPLE_CATEGORIES = {"Hardware": ["Laptops", "Printers"], "Access": ["VPN", "Accounts"], "Software": []}

SAMPLE_TICKETS = (
    # (title, description, category, impact, urgency, requester index, agent index, final status, comments)
    ("Printer on floor 2 jams on every page", "Since Monday the **HP** printer near the kitchen jams.", "Printers",
     2, 2, 0, 0, "open", [("public", "Could you send a photo of the error on the display?"),
                          ("internal", "Probably the fuser again; spare part is in stock.")]),
    ("VPN drops every hour", "The VPN disconnects at :00 and I lose my session.", "VPN",
     2, 1, 1, 1, "pending", [("public", "Which client version do you run? Menu > About.")]),
    ("New laptop for a starter", "Anna starts on the 1st; needs a laptop with the standard image.", "Laptops",
     3, 3, 0, None, "new", []),
    ("Cannot sign in to the HR system", "It says my account is locked.", "Accounts",
     2, 1, 1, 0, "resolved", [("public", "Unlocked your account; please try again.")]),
    ("Projector in meeting room 4 flickers", "", "Hardware", 3, 2, 0, None, "new", []),
    ("Shared drive is full", "Finance cannot save month-end reports.", "Software",
     1, 1, 1, 1, "open", [("internal", "Quota raised temporarily; need a clean-up plan.")]),
)


def _seed_triage() -> None:
    """Triage rules for the sample tickets and for incidents from the demo ServiceNow: the
    desk's triage queue has proposals to approve from the start (docs/triage.md). Idempotent
    by rule name; skipped until the sample categories exist."""
    from decimal import Decimal

    from apps.accounts.models import Role, User
    from apps.tickets.models import Category
    from apps.triage.models import Rule
    from apps.triage.services import rule_save

    categories = {c.name: c for c in Category.objects.filter(name__in=("Printers", "VPN", "Software"))}
    agents = list(User.objects.filter(role=Role.AGENT).order_by("pk"))
    if len(categories) < 3 or not agents:
        return
    admin = User.objects.filter(role=Role.ADMIN).order_by("pk").first()
    first_team, second_team = agents[0].teams.first(), agents[1 % len(agents)].teams.first()
    rules = (
        {"name": "Printers and scanners", "keywords": "printer, printers, scanner, toner, jams", "set_category":
         categories["Printers"], "set_team": second_team, "work_note": "Printer problem: the infrastructure team "
         "keeps the spare parts.", "confidence": Decimal("0.90")},
        {"name": "Network access", "keywords": "vpn, wifi, wi-fi, network", "set_category": categories["VPN"],
         "set_team": second_team, "set_urgency": 1, "confidence": Decimal("0.80")},
        {"name": "Incidents from ServiceNow", "source": "servicenow", "set_category": categories["Software"],
         "set_team": first_team, "work_note": "Triaged in Warden: routed to the service desk.",
         "confidence": Decimal("0.75")},
    )
    for position, values in enumerate(rules, start=1):
        if not Rule.objects.filter(name=values["name"]).exists():
            rule_save(actor=admin, rule=Rule(position=position * 10, **values))


def _seed_extras(tenant) -> None:
    """Sample categories and tickets, through the same services the desk and portal use.
(The SLA calendars and policies are every new tenant's defaults: `sla.services.defaults`.)

    Policy, audit, workflow and cooldowns apply as usual; every sample comment is written by
    an agent, whom the comment cooldown (a guard against requesters) does not hold back.
    """
    from apps.accounts.models import Role, User
    from apps.tickets.models import Category, Ticket
    from apps.tickets.services import (
        category_create,
        category_update,
        comment_add,
        desk_settings_update,
        ticket_assign,
        ticket_create,
        ticket_transition,
    )

    if Ticket.objects.exists():
        return
    admin = User.objects.filter(role=Role.ADMIN).order_by("pk").first()
    agents = list(User.objects.filter(role=Role.AGENT).order_by("pk"))
    requesters = list(User.objects.filter(role=Role.REQUESTER).order_by("pk"))
    categories = {}
    for parent_name, children in SAMPLE_CATEGORIES.items():
        parent = Category.objects.filter(name=parent_name, parent=None).first() or category_create(
            actor=admin, name=parent_name
        )
        categories[parent_name] = parent
        for child in children:
            categories[child] = Category.objects.filter(name=child, parent=parent).first() or category_create(
                actor=admin, name=child, parent=parent
            )
    # Routing: new tickets go to the first agent's team, access problems to the second's.
    first_team, second_team = agents[0].teams.first(), agents[1 % len(agents)].teams.first()
    desk_settings_update(actor=admin, default_team=first_team)
    category_update(actor=admin, category=categories["Access"], default_team=second_team)
    _seed_triage()  # before the tickets: they get proposals
    for title, description, category, impact, urgency, req, agent, status, comments in SAMPLE_TICKETS:
        requester = requesters[req % len(requesters)]
        ticket = ticket_create(
            actor=requester, title=title, description=description, category=categories[category],
            impact=impact, urgency=urgency,
        )
        if agent is not None:
            worker = agents[agent % len(agents)]
            team = worker.teams.first()
            ticket = ticket_assign(actor=admin, ticket=ticket, assignee=worker, team=team)
        else:
            worker = agents[0]
        for visibility, body in comments:
            comment_add(actor=worker, ticket=ticket, body=body, internal=visibility == "internal")
        ticket.refresh_from_db()
        if status == "pending":
            ticket = ticket_transition(actor=worker, ticket=ticket, to="pending", reason="Waiting for the requester")
        elif status == "resolved":
            ticket = ticket_transition(
                actor=worker, ticket=ticket, to="resolved", resolution_code="fixed",
                resolution_note="Account unlocked.",
            )
        elif status == "open" and ticket.status == "new":
            ticket_transition(actor=worker, ticket=ticket, to="open")
