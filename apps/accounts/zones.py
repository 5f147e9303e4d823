"""Whose time zone a page, an email or an export is in.

A person's own zone (`User.time_zone`, an IANA name; empty: "my organisation's"), else
their organisation's (`Tenant.time_zone`, set at provisioning from the region: the zone
of its default office calendar), else `settings.TIME_ZONE` (UTC). Both attributes are
read by name, so this module needs nothing from `apps.tenants` (a layer above).

* Web pages: `TimeZoneMiddleware` activates the viewer's zone for the request, so
  `localtime()`, the `date` filter and the admin show the viewer's wall clock (and, with
  the formats in config/formats, the zone's abbreviation).
* The API stays in UTC ("...Z"): its output does not depend on who asks.
* Email and other output made outside a request (Celery):
  `with shown_to(person): render(...)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import tzinfo

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from apps.core.timezones import is_zone, zone

# Machine interfaces: their times do not change with the caller (UTC, ISO 8601).
UTC_PREFIXES = ("/api/",)


def zone_name_for(user=None, tenant=None) -> str:
    """The IANA name times are shown in for `user` (None or anonymous: the organisation's).
    `tenant` defaults to the connection's."""
    if tenant is None:
        tenant = getattr(connection, "tenant", None)
    for name in (getattr(user, "time_zone", ""), getattr(tenant, "time_zone", "")):
        if name and is_zone(name):
            return name
    return settings.TIME_ZONE


def zone_for(user=None, tenant=None) -> tzinfo:
    return zone(zone_name_for(user, tenant))


@contextlib.contextmanager
def shown_to(user, tenant=None) -> Iterator[tzinfo]:
    """Render inside this block and every time is in `user`'s zone (emails, exports)."""
    tz = zone_for(user, tenant)
    with timezone.override(tz):
        yield tz


class TimeZoneMiddleware:
    """Activates the viewer's zone for the request (after AuthenticationMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(UTC_PREFIXES):
            with timezone.override(zone(settings.TIME_ZONE)):
                return self.get_response(request)
        user = getattr(request, "user", None)
        person = user if user is not None and user.is_authenticated else None
        with timezone.override(zone_for(person, getattr(request, "tenant", None))):
            return self.get_response(request)
