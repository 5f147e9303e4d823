from apps.core import periodic
from apps.core.cli import OperatorCommand


class Command(OperatorCommand):
    help = "Write the periodic tasks declared in code to django-celery-beat's schedule."

    def handle(self, *args, **opts):
        names = periodic.sync()
        self.stdout.write(f"periodic tasks: {', '.join(names) or '(none)'}")
