"""The base of Warden's operator commands: one-line errors, exit code 2.

Operators script these commands (`provision_tenant ... || exit`), so a failure must be
one line on stderr that says what is wrong, and a distinct exit code. Django's own
behaviour is neither: argparse prints the whole usage block before its message, and a
`CommandError` exits 1 like any crash. Commands built on `OperatorCommand` get:

* argument errors (unknown choice, missing option) as `<prog>: error: <message>`, exit 2,
  without the usage block (`--help` still shows it);
* service errors (`ApplicationError`, `ValidationError`, and whatever the command lists
  in `expected_errors`) and `self.fail(...)` the same way, exit 2, with nothing written:
  services validate before they touch anything, and run in one transaction;
* a database whose tables do not exist yet (never migrated, or behind the code: a table
  or column the code needs is missing) as one line naming `make migrate`, exit 2: the
  operator fixes it by migrating; nothing was written;
* a database error (unreachable, a timeout) as one line too, exit 1: not the operator's input.

Called in-process (`call_command`), the same failures raise `CommandError` with
`returncode` 2, so tests and other commands can tell them apart.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, SystemCheckError
from django.db import OperationalError, ProgrammingError, connections
from django_tenants.utils import get_tenant_model

from .errors import ApplicationError

USAGE_ERROR = 2
UNAVAILABLE = 1


def one_line(text: object) -> str:
    """`text` with its line breaks and runs of blanks folded into single spaces."""
    return " ".join(str(text).split())


class OneLineCommandParser(CommandParser):
    """argparse, minus the usage block on errors."""

    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            self.exit(USAGE_ERROR, f"{self.prog}: error: {one_line(message)}\n")
        raise CommandError(f"Error: {one_line(message)}", returncode=USAGE_ERROR)


# SQLSTATEs of a database behind the code: undefined_table (no django_migrations, no
# tenants_tenant, ...), undefined_column.
_NOT_MIGRATED = frozenset({"42P01", "42703"})


def _not_migrated(exc: ProgrammingError) -> str | None:
    """What is missing ('relation "x" does not exist') when `exc` says the database is not
    migrated up to this code; None for any other programming error."""
    cause = exc.__cause__
    state = getattr(cause, "sqlstate", None)
    primary = getattr(getattr(cause, "diag", None), "message_primary", None)
    text = primary or (str(exc).splitlines() or [""])[0]
    if state is not None:
        return text if state in _NOT_MIGRATED else None
    if "does not exist" in text and ("relation" in text or "column" in text):
        return text
    return None


def _message(exc: BaseException) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


class OperatorCommand(BaseCommand):
    """A management command an operator runs by hand or from a script."""

    #: Exceptions (besides ApplicationError and ValidationError) that mean "the input or
    #: the state is wrong, here is why": reported in one line with exit code 2.
    expected_errors: tuple[type[BaseException], ...] = ()

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Django builds a CommandParser unconditionally; ours only changes error().
        parser.__class__ = OneLineCommandParser
        self._prog = parser.prog
        return parser

    def fail(self, message: str, *, returncode: int = USAGE_ERROR) -> NoReturn:
        """Stop with a one-line error (exit 2 unless told otherwise)."""
        raise CommandError(one_line(message), returncode=returncode)

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            try:
                return super().execute(*args, **options)
            except (ApplicationError, ValidationError, *self.expected_errors) as exc:
                raise CommandError(one_line(_message(exc)), returncode=USAGE_ERROR) from exc
            except OperationalError as exc:
                raise CommandError(
                    one_line(f"database error: {exc}"), returncode=UNAVAILABLE
                ) from exc
            except ProgrammingError as exc:
                missing = _not_migrated(exc)
                if missing is None:
                    raise
                name = connections[options.get("database") or "default"].settings_dict.get("NAME")
                raise CommandError(
                    one_line(f"the database {name!r} is not migrated ({missing}): run `make migrate`"),
                    returncode=USAGE_ERROR,
                ) from exc
        except CommandError as exc:
            if not getattr(self, "_called_from_command_line", False) or options.get("traceback"):
                raise
            if isinstance(exc, SystemCheckError):
                raise  # Django formats these itself
            self.stderr.write(f"{getattr(self, '_prog', 'manage.py')}: error: {one_line(exc)}")
            sys.exit(exc.returncode)


def tenant_by_slug(slug: str):
    """The tenant an operator named with `--tenant S` (never the public schema), or a
    one-line CommandError (exit 2). The model comes from django-tenants' TENANT_MODEL."""
    tenant = get_tenant_model().objects.filter(slug=slug.strip().lower()).exclude(schema_name="public").first()
    if tenant is None:
        raise CommandError(f"no tenant with slug {slug!r}", returncode=USAGE_ERROR)
    return tenant


def operator_label() -> str:
    """Who ran the command, as far as the machine knows (recorded in audit events)."""
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001
        name = os.environ.get("USER", "unknown")
    return f"operator:{name}"
