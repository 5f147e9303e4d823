"""Checks on user-supplied text: sizes and control characters. Pure Python.

Every service runs its text through `clean_text()` so the API, the UI, email intake
and connectors refuse the same things with the same messages.
"""

from __future__ import annotations

import re

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
    label: str = "This field",
) -> list[str]:
    errors: list[str] = []
    if not isinstance(value, str):
        return [f"{label} must be text."]
    if required and not value.strip():
        errors.append(f"{label} is required.")
    bad = CONTROL_CHARS.search(value)
    if bad:
        errors.append(
            f"{label} contains a control character (U+{ord(bad.group()):04X}) at position {bad.start() + 1}; "
            "only line breaks and tabs are allowed."
        )
    if single_line and ("\n" in value or "\r" in value):
        errors.append(f"{label} must be a single line.")
    if max_chars is not None and len(value) > max_chars:
        errors.append(f"{label} has {len(value)} characters; the maximum is {max_chars}.")
    if max_bytes is not None:
        size = len(value.encode("utf-8", errors="surrogatepass"))
        if size > max_bytes:
            errors.append(f"{label} is {size} bytes; the maximum is {max_bytes} bytes ({max_bytes // 1024} KB).")
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
