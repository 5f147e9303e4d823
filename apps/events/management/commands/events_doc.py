from pathlib import Path

from django.conf import settings

from apps.core.cli import OperatorCommand
from apps.events.docs import render


class Command(OperatorCommand):
    help = "Write docs/events.md from the event registry (or print it with --stdout)."

    def add_arguments(self, parser):
        parser.add_argument("--stdout", action="store_true", help="Print instead of writing docs/events.md.")

    def handle(self, *args, **opts):
        text = render()
        if opts["stdout"]:
            self.stdout.write(text, ending="")
            return
        path = Path(settings.BASE_DIR) / "docs" / "events.md"
        path.write_text(text)
        self.stdout.write(f"wrote {path}")
