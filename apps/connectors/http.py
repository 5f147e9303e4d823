"""The one HTTP transport of the connectors: `requests`, connecting to the address the
guard validated (docs/decisions/0021-connectors-framework.md).

`send()` makes ONE request to an `guard.Endpoint`: the TCP connection goes to
`endpoint.address` (no second DNS lookup), while the Host header, TLS SNI and the
certificate check use the host name. No redirect is followed, no proxy from the
environment is used (a proxy would do its own resolution), and the timeouts are always
set. Retries, the circuit breaker and metering are the client's business (client.py).
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool

from .guard import Endpoint


class PinnedAdapter(HTTPAdapter):
    """An adapter whose connection pool targets one validated address."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._pool: HTTPConnectionPool | None = None
        super().__init__(max_retries=0, pool_connections=1, pool_maxsize=1)

    def _make_pool(self) -> HTTPConnectionPool:
        target = self.endpoint.target
        if target.scheme == "https":
            return HTTPSConnectionPool(
                host=self.endpoint.address,
                port=target.port,
                maxsize=1,
                cert_reqs="CERT_REQUIRED",
                ca_certs=requests.utils.DEFAULT_CA_BUNDLE_PATH,
                server_hostname=target.host,  # SNI
                assert_hostname=target.host,  # the certificate must name the host, not the address
            )
        return HTTPConnectionPool(host=self.endpoint.address, port=target.port, maxsize=1)  # loopback fakes only

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):  # requests >= 2.32
        if self._pool is None:
            self._pool = self._make_pool()
        return self._pool

    def get_connection(self, url, proxies=None):  # older requests
        return self.get_connection_with_tls_context(None, True, proxies)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        super().close()


def send(
    endpoint: Endpoint,
    *,
    method: str,
    headers: dict[str, str],
    params: dict[str, Any] | None = None,
    json: Any = None,
    connect_timeout: float,
    read_timeout: float,
) -> requests.Response:
    """One request; exceptions are requests' own (ConnectTimeout, ReadTimeout, ...)."""
    target = endpoint.target
    session = requests.Session()
    session.trust_env = False  # no proxies, no .netrc credentials from the environment
    adapter = PinnedAdapter(endpoint)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    try:
        return session.request(
            method,
            target.url,
            params=params,
            json=json,
            headers={**headers, "Host": target.host_header},
            timeout=(connect_timeout, read_timeout),
            allow_redirects=False,
            verify=True,
        )
    finally:
        session.close()
