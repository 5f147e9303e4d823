"""Checks on user-supplied text: sizes and control characters. Pure Python.

Every service runs its text through `clean_text()` so the API, the UI, email intake
and connectors refuse the same things with the same messages.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError

# C0 controls except \t \n \r, DEL, and C1 controls.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def text_errors(
    value: str,
    *,
    max_chars: int | None = None,
    max_bytes: int | None = None,
    required: bool = False,
    single_line: bool = False,
    label: str | None = None,
) -> list[str]:
    errors: list[str] = []
    label = label or _("This field")
    if not isinstance(value, str):
        return [_("%(label)s must be text.") % {"label": label}]
    if required and not value.strip():
        errors.append(_("%(label)s is required.") % {"label": label})
    bad = CONTROL_CHARS.search(value)
    if bad:
        errors.append(
            _("%(label)s contains a control character (U+%(code)s) at position %(position)s; "
              "only line breaks and tabs are allowed.")
            % {"label": label, "code": f"{ord(bad.group()):04X}", "position": bad.start() + 1}
        )
    if single_line and ("\n" in value or "\r" in value):
        errors.append(_("%(label)s must be a single line.") % {"label": label})
    if max_chars is not None and len(value) > max_chars:
        errors.append(_("%(label)s has %(count)s characters; the maximum is %(max)s.")
                      % {"label": label, "count": len(value), "max": max_chars})
    if max_bytes is not None:
        size = len(value.encode("utf-8", errors="surrogatepass"))
        if size > max_bytes:
            errors.append(_("%(label)s is %(size)s bytes; the maximum is %(max)s bytes (%(kb)s KB).")
                          % {"label": label, "size": size, "max": max_bytes, "kb": max_bytes // 1024})
    return errors


def clean_text(value: str | None, *, field: str, strip: bool = True, **checks) -> str:
    """`value` stripped and checked; ApplicationError with `errors={field: [...]}` if not fine."""
    value = "" if value is None else value
    if strip and isinstance(value, str):
        # Control characters are looked for before stripping: Python counts some of them
        # (\x1c-\x1f, \x85) as white space.
        bad = CONTROL_CHARS.search(value)
        value = value.strip() if bad is None else value
    errors = text_errors(value, **checks)
    if errors:
        raise ApplicationError(errors[0], errors={field: errors})
    return value
