"""Fixtures of the ServiceNow tests: the fake Table API on 127.0.0.1 (fakes/servicenow.py),
a connector calling it, fast client settings, and helpers to poll and to write back."""

from __future__ import annotations

import pytest

from fakes.servicenow import FakeServiceNow
from tests.connectors.conftest import SECRET


@pytest.fixture
def snow():
    with FakeServiceNow(token=SECRET) as fake:
        yield fake


@pytest.fixture
def fast(fast):
    """The connectors' fast client settings (tests/connectors/conftest.py), small pages."""
    fast.WARDEN_SERVICENOW_PAGE_SIZE = 10
    return fast


@pytest.fixture
def snow_connector(loopback, fast, snow, make_connector):
    """A live (not dry-run) ServiceNow connector calling the fake, its breaker reset."""
    from apps.connectors import breaker

    connector = make_connector(name="snow", base_url=snow.url)
    breaker.reset(connector.pk)
    yield connector
    breaker.reset(connector.pk)


@pytest.fixture
def slept():
    return []


@pytest.fixture
def poll(snow_connector, slept):
    """poll(**options) -> PollResult: one run of the connector's poll, sleeps recorded."""
    from apps.connectors.servicenow.services import servicenow_poll

    def run(connector=None, **options):
        options.setdefault("sleep", slept.append)
        return servicenow_poll(connector=connector or snow_connector, **options)

    return run


@pytest.fixture
def full_content(tenant, monkeypatch):
    """The tenant keeps connector content (full-content mode) for this test."""
    from django.db import connection

    from apps.tenants.models import DataMode, Tenant

    Tenant.objects.filter(pk=tenant.pk).update(data_mode=DataMode.FULL_CONTENT)
    monkeypatch.setattr(connection.tenant, "data_mode", DataMode.FULL_CONTENT)
    return tenant
