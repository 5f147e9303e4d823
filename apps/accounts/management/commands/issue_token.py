from django.db import transaction
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.accounts.services import token_issue
from apps.core import governance
from apps.core.cli import OperatorCommand, operator_label, tenant_by_slug


class Command(OperatorCommand):
    help = "Print an API token for a user of a tenant (created on first use)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--email", required=True)

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        with tenant_context(tenant):
            user = User.objects.filter(email__iexact=opts["email"].strip()).first()
            if user is None or not user.is_active:
                self.fail(f"no active user {opts['email']!r} in tenant {tenant.slug!r}")
            with transaction.atomic():
                token = token_issue(user=user)
                # The token itself never enters the audit chain.
                governance.record_system(action="operator.issue_token", target=user, actor_label=operator_label())
        self.stdout.write(token.key)
