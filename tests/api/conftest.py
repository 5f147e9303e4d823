"""Fixtures of the API-wide tests: the tickets fixtures (tickets made through the services,
uploads under a throwaway media root, no comment cooldown)."""

from tests.tickets.conftest import _tickets_settings, make_ticket, png_file  # noqa: F401  (fixtures)
