"""Every SSRF case is refused when the URL is saved and again when a stored URL is
called, with no socket opened (not even a DNS lookup through the system)."""

from __future__ import annotations

import pytest

from apps.connectors.choices import Outcome
from apps.connectors.client import CallRefused, ConnectorClient, RedirectRefused
from apps.connectors.models import Connector, ConnectorCall, DeadLetter
from apps.core.errors import ApplicationError
from tests.fakes.http_service import Answer

CASES = [
    "http://acme.service-now.com",
    "https://127.0.0.1",
    "https://169.254.169.254",
    "https://[::1]",
    "https://0x7f000001",
    "https://x.service-now.com@127.0.0.1",
    "https://x.service-now.com.evil.net",
    "https://acme.service-now.com:8443",
    "https://internal.service-now.com",  # DNS answers 10.0.0.5
]


@pytest.fixture
def internal_dns(fake_dns):
    fake_dns.ANSWERS["internal.service-now.com"] = ["10.0.0.5"]
    return fake_dns


@pytest.mark.parametrize("url", CASES)
def test_refused_at_save(url, internal_dns, no_sockets, make_connector):
    with pytest.raises(ApplicationError) as refused:
        make_connector(base_url=url)
    assert "base_url" in refused.value.errors
    assert not Connector.objects.exists()
    assert no_sockets == []


@pytest.mark.parametrize("url", CASES)
def test_refused_at_call_time(url, internal_dns, no_sockets, make_connector):
    connector = make_connector()
    Connector.objects.filter(pk=connector.pk).update(base_url=url)  # a stored URL that is (or became) bad
    connector.refresh_from_db()
    for method in ("GET", "POST"):
        with pytest.raises(CallRefused):
            ConnectorClient(connector).request(method, "/api/now/table/incident", json={"x": 1}, idempotency_key="k1")
    assert no_sockets == []
    assert list(ConnectorCall.objects.filter(connector=connector).values_list("outcome", flat=True)) == [Outcome.REFUSED] * 2
    assert DeadLetter.objects.filter(connector=connector, method="POST").count() == 1  # the write can be retried later


def test_dns_rebinding_public_at_save_private_at_call(fake_dns, no_sockets, make_connector):
    fake_dns.ANSWERS["rebind.service-now.com"] = [["93.184.216.34"], ["10.0.0.5"]]
    connector = make_connector(base_url="https://rebind.service-now.com")  # first answer: public
    with pytest.raises(CallRefused) as refused:
        ConnectorClient(connector).get("/api/now/table/incident")  # second answer: private
    assert refused.value.code == "address"
    assert no_sockets == []


def test_the_update_of_a_url_is_checked_too(internal_dns, no_sockets, make_connector, admin_user):
    from apps.connectors.services.connectors import connector_update

    connector = make_connector()
    with pytest.raises(ApplicationError):
        connector_update(actor=admin_user, connector=connector, base_url="https://internal.service-now.com")
    connector.refresh_from_db()
    assert connector.base_url == "https://acme.service-now.com"


def test_a_redirect_to_an_internal_address_is_not_followed(local_connector, service, monkeypatch, admin_user):
    service.script = [Answer(302, {"Location": "http://10.0.0.5/latest/meta-data/"})]
    import urllib3.util.connection

    real = urllib3.util.connection.create_connection
    connected = []

    def spy(address, *args, **kwargs):
        connected.append(address[0])
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", spy)
    with pytest.raises(RedirectRefused):
        ConnectorClient(local_connector).get("/api/now/table/incident")
    assert len(service.requests) == 1
    assert connected == ["127.0.0.1"]
    # Test connection says so, too.
    from apps.connectors.services.operations import connector_test

    service.script = [Answer(302, {"Location": "http://10.0.0.5/"})]
    outcome = connector_test(actor=admin_user, connector=local_connector)
    assert not outcome.ok
    assert outcome.code == "redirect"
    assert connected == ["127.0.0.1", "127.0.0.1"]


def test_connects_to_the_validated_address_without_resolving_again(fake_dns, loopback, service, make_connector, monkeypatch):
    import socket

    fake_dns.ANSWERS["fake.service-now.com"] = ["127.0.0.1"]
    connector = make_connector(base_url=f"http://fake.service-now.com:{service.port}")
    fake_dns.LOOKUPS.clear()
    real = socket.getaddrinfo
    asked = []

    def spy(host, *args, **kwargs):
        asked.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    ConnectorClient(connector).get("/api/now/table/incident")
    assert fake_dns.LOOKUPS == ["fake.service-now.com"]  # the guard's one lookup
    assert "fake.service-now.com" not in asked  # the connection used the address
    assert service.requests[0].headers["Host"] == f"fake.service-now.com:{service.port}"
