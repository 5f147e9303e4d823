"""The SSRF guard on its own (pure: a fake resolver, no socket, no database)."""

from __future__ import annotations

import pytest

from apps.connectors import guard

HOSTS = ["*.service-now.com", "api.github.com"]


def _resolver(answers):
    asked = []

    def resolve(host, port):
        asked.append(host)
        return answers[host]

    resolve.asked = asked
    return resolve


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://x.service-now.com", "scheme"),
        ("https://127.0.0.1", "ip_literal"),
        ("https://169.254.169.254", "ip_literal"),
        ("https://[::1]", "ip_literal"),
        ("https://0x7f000001", "ip_literal"),
        ("https://2130706433", "ip_literal"),
        ("https://0177.0.0.1", "ip_literal"),
        ("https://127.1", "ip_literal"),
        ("https://[::ffff:127.0.0.1]", "ip_literal"),
        ("https://x.service-now.com@127.0.0.1", "userinfo"),
        ("https://user:pw@x.service-now.com", "userinfo"),
        ("https://x.service-now.com.evil.net", "host_not_allowed"),
        ("https://evilservice-now.com", "host_not_allowed"),
        ("https://service-now.com", "host_not_allowed"),
        ("https://x.service-now.com:8443", "port"),
        ("https://x.service-now.com:80", "port"),
        ("ftp://x.service-now.com", "scheme"),
        ("https://x.service-now.com\\@127.0.0.1", "malformed"),
        ("https://x.service-now.com./", "malformed"),
        ("https://localhost", "malformed"),
        ("", "malformed"),
    ],
)
def test_refused_urls_never_reach_the_resolver(url, code):
    resolver = _resolver({})
    with pytest.raises(guard.UrlRefused) as refused:
        guard.resolve(guard.parse(url, allowed_hosts=HOSTS), resolver=resolver)
    assert refused.value.code == code
    assert resolver.asked == []


def test_an_allowed_url_resolves_once_to_a_public_address():
    resolver = _resolver({"acme.service-now.com": ["93.184.216.34", "93.184.216.35"]})
    target = guard.parse("https://ACME.service-now.com:443/api/now?x=1#frag", allowed_hosts=HOSTS)
    assert (target.scheme, target.host, target.port, target.path) == ("https", "acme.service-now.com", 443, "/api/now?x=1")
    endpoint = guard.resolve(target, resolver=resolver)
    assert endpoint.address == "93.184.216.34"
    assert resolver.asked == ["acme.service-now.com"]
    assert target.host_header == "acme.service-now.com"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.5", "private"), ("192.168.1.1", "private"), ("172.16.0.1", "private"),
        ("127.0.0.1", "loopback"), ("::1", "loopback"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
        ("100.64.0.1", "CGNAT"), ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("240.0.0.1", ""),
        ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("::ffff:10.0.0.5", "mapped"), ("::ffff:8.8.8.8", "mapped"),
        ("2002:a00:5::1", "6to4"), ("64:ff9b::a00:5", "NAT64"), ("fc00::1", "private"), ("192.0.2.1", ""),
        ("198.18.0.1", ""),
    ],
)
def test_internal_addresses_are_refused(address, reason):
    refusal = guard.address_refusal(address)
    assert refusal is not None
    assert reason in refusal


@pytest.mark.parametrize("address", ["93.184.216.34", "140.82.121.6", "2606:4700::6810:84e5"])
def test_public_addresses_pass(address):
    assert guard.address_refusal(address) is None


def test_dns_answering_a_private_address_is_refused():
    target = guard.parse("https://acme.service-now.com", allowed_hosts=HOSTS)
    with pytest.raises(guard.UrlRefused) as refused:
        guard.resolve(target, resolver=_resolver({"acme.service-now.com": ["10.0.0.5"]}))
    assert refused.value.code == "address"


def test_one_private_answer_among_public_ones_is_refused():
    target = guard.parse("https://acme.service-now.com", allowed_hosts=HOSTS)
    with pytest.raises(guard.UrlRefused):
        guard.resolve(target, resolver=_resolver({"acme.service-now.com": ["93.184.216.34", "127.0.0.1"]}))


def test_loopback_mode_allows_loopback_only():
    target = guard.parse("http://127.0.0.1:8081/x", allowed_hosts=HOSTS, allow_loopback=True)
    assert guard.resolve(target, resolver=_resolver({}), allow_loopback=True).address == "127.0.0.1"
    named = guard.parse("http://fake.service-now.com:8081", allowed_hosts=HOSTS, allow_loopback=True)
    with pytest.raises(guard.UrlRefused):  # a name answering a private address stays refused
        guard.resolve(named, resolver=_resolver({"fake.service-now.com": ["10.0.0.5"]}), allow_loopback=True)
    with pytest.raises(guard.UrlRefused):  # http on a public address is refused even in loopback mode
        guard.resolve(named, resolver=_resolver({"fake.service-now.com": ["93.184.216.34"]}), allow_loopback=True)
    with pytest.raises(guard.UrlRefused):
        guard.parse("http://10.0.0.5:8081", allowed_hosts=HOSTS, allow_loopback=True)


@pytest.mark.parametrize(("pattern", "valid"), [
    ("tickets.example.com", True), ("*.example.com", True), ("example", False), ("10.0.0.5", False),
    ("*.com.", False), ("a.b.c:443", False), ("*", False), ("1.2.3.4.5", False),
])
def test_custom_domain_patterns(pattern, valid):
    assert guard.pattern_valid(pattern) is valid


def test_pinned_pool_connects_to_the_address_and_verifies_the_host_name():
    from apps.connectors.http import PinnedAdapter

    target = guard.parse("https://acme.service-now.com/api", allowed_hosts=HOSTS)
    pool = PinnedAdapter(guard.Endpoint(target=target, address="93.184.216.34"))._make_pool()
    assert pool.host == "93.184.216.34"
    assert pool.port == 443
    assert pool.assert_hostname == "acme.service-now.com"
    assert pool.conn_kw["server_hostname"] == "acme.service-now.com"
    assert pool.cert_reqs == "CERT_REQUIRED"
