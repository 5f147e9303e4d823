from pathlib import Path

from django.conf import settings

from apps.core.cli import OperatorCommand
from apps.events.docs import render


class Command(OperatorCommand):
    help = "Write docs/events.md from the event registry (or print it with --print)."

    def add_arguments(self, parser):
        parser.add_argument("--print", action="store_true", dest="print_only",
                            help="Print instead of writing docs/events.md.")

    def handle(self, *args, **opts):
        text = render()
        if opts["print_only"]:
            self.stdout.write(text, ending="")
            return
        path = Path(settings.BASE_DIR) / "docs" / "events.md"
        path.write_text(text)
        self.stdout.write(f"wrote {path}")
