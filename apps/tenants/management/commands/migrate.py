"""`migrate` is `migrate_schemas` (as in django-tenants), with the base schema included."""

from .migrate_schemas import Command  # noqa: F401
