import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.accounts.models import Role, Team
from apps.accounts.services import team_add_member, user_create
from apps.core.errors import ApplicationError
from apps.tenants.cli import operator_label, tenant_by_slug


class Command(BaseCommand):
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
        with tenant_context(tenant):
            try:
                with transaction.atomic():
                    user = user_create(
                        email=opts["email"], role=opts["role"], password=opts["password"], full_name=opts["name"]
                    )
                    team = None
                    if opts["team"]:
                        team = Team.objects.filter(name__iexact=opts["team"]).first()
                        if team is None:
                            from apps.accounts.services import team_create

                            team = team_create(name=opts["team"])
                        team_add_member(team=team, user=user)
                    from apps.audit.services import audit_record_system

                    audit_record_system(
                        action="operator.create_user",
                        target=user,
                        payload={"email": user.email, "role": user.role, "team": team.name if team else None},
                        actor_label=operator_label(),
                    )
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
        self.stdout.write(
            json.dumps({"tenant": tenant.slug, "id": user.pk, "email": user.email, "role": user.role,
                        "team": team.name if team else None})
        )
