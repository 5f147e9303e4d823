from apps.core.cli import OperatorCommand
from apps.demo.seed import seed_demo


class Command(OperatorCommand):
    help = "Provision the demo tenants acme (eu) and globex (us) with users. Idempotent."

    def handle(self, *args, **opts):
        for item in seed_demo():
            self.stdout.write(f"demo tenant {item['tenant'].slug}: {len(item['logins'])} logins")
