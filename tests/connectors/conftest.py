"""Fixtures of the connector tests: the fake DNS reset, loopback allowed on demand, a
scripted fake service on 127.0.0.1, a guard that fails the test if a socket is opened,
and connectors made through the services."""

from __future__ import annotations

import socket

import pytest

from tests.connectors.github_support import *  # noqa: F403 - the GitHub connector's fixtures
from tests.fakes import dns
from tests.fakes.http_service import FakeService

SECRET = "s3cr3t-token-value-never-shown"


@pytest.fixture(autouse=True)
def fake_dns():
    dns.reset()
    yield dns
    dns.reset()


@pytest.fixture
def loopback(settings):
    settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK = True
    return settings


@pytest.fixture
def service():
    with FakeService() as fake:
        yield fake


class SocketOpened(AssertionError):
    pass


@pytest.fixture
def no_sockets(monkeypatch):
    """Any outgoing connection (or real DNS lookup) fails the test."""
    opened: list = []

    def refuse(*args, **kwargs):
        opened.append(args)
        raise SocketOpened(f"a socket was opened: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    import urllib3.util.connection

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    return opened


@pytest.fixture
def fast(settings):
    """Short timeouts and backoff, and a breaker that opens after four failures."""
    settings.WARDEN_CONNECTORS_READ_TIMEOUT = 0.3
    settings.WARDEN_CONNECTORS_CONNECT_TIMEOUT = 1.0
    settings.WARDEN_CONNECTORS_MAX_ATTEMPTS = 4
    settings.WARDEN_CONNECTORS_BREAKER_FAILURES = 4
    settings.WARDEN_CONNECTORS_BREAKER_SECONDS = 60
    settings.WARDEN_CONNECTORS_BACKOFF_BASE = 0.5
    settings.WARDEN_CONNECTORS_BACKOFF_CAP = 30
    return settings


@pytest.fixture
def no_sleep():
    slept: list[float] = []
    return slept


@pytest.fixture
def make_connector(admin_user):
    from apps.connectors.services.connectors import connector_create

    def make(**overrides):
        values = {"kind": "servicenow", "name": "snow", "base_url": "https://acme.service-now.com",
                  "auth_scheme": "bearer", "secret": SECRET, "dry_run": False, "daily_write_cap": 100}
        values.update(overrides)
        return connector_create(actor=admin_user, **values)

    return make


@pytest.fixture
def local_connector(loopback, service, make_connector):
    """A connector calling the fake service on 127.0.0.1 (its breaker reset)."""
    from apps.connectors import breaker

    connector = make_connector(name="local", base_url=service.url)
    breaker.reset(connector.pk)
    yield connector
    breaker.reset(connector.pk)
