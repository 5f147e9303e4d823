import json

from django.db import transaction
from django_tenants.utils import tenant_context

from apps.accounts.models import Role, Team
from apps.accounts.services import team_add_member, team_create, user_create
from apps.core import governance
from apps.core.cli import OperatorCommand, operator_label, tenant_by_slug


class Command(OperatorCommand):
    help = "Create a user in a tenant, optionally in a team. Prints JSON."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", default=None)
        parser.add_argument("--name", default="")
        parser.add_argument("--team", default=None, help="Team name; created when it does not exist.")

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        label = operator_label()
        with tenant_context(tenant), transaction.atomic():
            # One transaction: a bad team name leaves no user behind, and vice versa.
            user = user_create(
                email=opts["email"], role=opts["role"], password=opts["password"], full_name=opts["name"],
                actor_label=label,
            )
            team = None
            if opts["team"]:
                team = Team.objects.filter(name__iexact=opts["team"].strip()).first()
                if team is None:
                    team = team_create(name=opts["team"], actor_label=label)
                team_add_member(team=team, user=user, actor_label=label)
            governance.record_system(
                action="operator.create_user",
                target=user,
                payload={"email": user.email, "role": user.role, "team": team.name if team else None},
                actor_label=label,
            )
        self.stdout.write(
            json.dumps({"tenant": tenant.slug, "id": user.pk, "email": user.email, "role": user.role,
                        "team": team.name if team else None})
        )
