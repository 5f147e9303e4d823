"""The current request's id, readable anywhere (logging, audit, Celery headers)."""

from __future__ import annotations

import contextvars
import re
import uuid

NONE = "-"  # what log lines show outside any request or task
_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default=NONE)
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def get() -> str:
    return _current.get()


def current() -> str | None:
    """The id, or None outside any request or task (to pass on only real ids)."""
    value = _current.get()
    return None if value == NONE else value


def set(value: str | None) -> contextvars.Token[str]:  # noqa: A001
    return _current.set(value if value and value != NONE and _VALID.match(value) else uuid.uuid4().hex)


def reset(token: contextvars.Token[str]) -> None:
    _current.reset(token)
