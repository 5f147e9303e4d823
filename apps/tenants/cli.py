"""Shared pieces for operator commands that act on one tenant."""

from __future__ import annotations

import getpass
import os

from django.core.management.base import CommandError

from .models import Tenant


def tenant_by_slug(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug.strip().lower()).exclude(schema_name="public").first()
    if tenant is None:
        raise CommandError(f"no tenant with slug {slug!r}", returncode=2)
    return tenant


def operator_label() -> str:
    """Who ran the command, as far as the machine knows (recorded in audit events)."""
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001
        name = os.environ.get("USER", "unknown")
    return f"operator:{name}"
