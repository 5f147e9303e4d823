#!/usr/bin/env python
import os
import sys

# Exit status for configuration errors (sysexits.h EX_CONFIG).
EX_CONFIG = 78

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Settings that refuse to load (production.py lists every problem) are the
        # operator's to fix, not a bug: say it in one line, no traceback.
        if "--traceback" in sys.argv:
            raise
        sys.stderr.write(f"manage.py: error: {' '.join(str(exc).split())}\n")
        sys.exit(EX_CONFIG)
