"""`python -m warden_agent`: load the configuration (a one-line error and exit 2 when
it is wrong), then run the loop. Exit codes: 0 stopped by SIGTERM/SIGINT, 1 an
unexpected error, 2 bad configuration, 3 the token was refused (unknown or revoked)."""

from __future__ import annotations

import sys

from .config import ConfigError, load
from .loop import EXIT_CONFIG, EXIT_UNEXPECTED, Agent, log


def main(argv: list[str] | None = None) -> int:
    try:
        config = load(argv)
    except ConfigError as exc:
        print(f"warden-agent: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    try:
        return Agent(config).run()
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback with who knows what in it
        log(f"unexpected error: {type(exc).__name__}: {str(exc)[:200]}")
        return EXIT_UNEXPECTED
