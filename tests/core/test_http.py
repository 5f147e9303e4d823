"""Request ids, problem details, health, readiness and metrics on both hosts."""

import subprocess

import pytest
from django.test import Client, RequestFactory, override_settings

from apps.core import problems

TENANT = "alpha.localhost"
PLATFORM = "localhost"


@pytest.mark.parametrize("host", [TENANT, PLATFORM, "nobody.localhost"])
def test_every_response_has_a_request_id(tenant, host):
    response = Client(HTTP_HOST=host).get("/health/")
    assert len(response["X-Request-ID"]) >= 16


def test_incoming_request_id_is_echoed_and_bad_ones_replaced(tenant):
    client = Client(HTTP_HOST=TENANT)
    assert client.get("/health/", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    assert client.get("/health/", HTTP_X_REQUEST_ID="bad id\n")["X-Request-ID"] != "bad id\n"


def test_unknown_host_is_404_not_another_tenant(tenant):
    response = Client(HTTP_HOST="nobody.localhost").get("/", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert b"alpha" not in response.content.lower()
    api = Client(HTTP_HOST="nobody.localhost").get("/api/v1/tickets/")
    assert api.status_code == 404
    assert api["Content-Type"] == "application/problem+json"
    assert api.json()["status"] == 404


@pytest.mark.parametrize("host", [TENANT, PLATFORM])
def test_health_ready_metrics_on_both_hosts(tenant, host):
    client = Client(HTTP_HOST=host)
    assert client.get("/health/").json() == {"status": "ok"}
    ready = client.get("/ready/")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgresql": "ok", "redis": "ok"}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert b"django_http_requests_total" in metrics.content or b"python_info" in metrics.content


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int, folder) -> subprocess.Popen:
    import shutil
    import socket
    import time

    server = shutil.which("redis-server")
    assert server, "redis-server is not installed (make test installs it)"
    proc = subprocess.Popen(  # noqa: S603
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"redis-server did not start on port {port}")


def test_ready_turns_503_naming_redis_while_a_real_redis_is_stopped(tenant, tmp_path):
    port = _free_port()
    server = _start_redis(port, tmp_path)
    client = Client(HTTP_HOST=TENANT)
    try:
        with override_settings(REDIS_URL=f"redis://127.0.0.1:{port}/0"):
            assert client.get("/ready/").status_code == 200

            server.terminate()
            server.wait(timeout=10)
            down = client.get("/ready/")
            assert down.status_code == 503
            assert down["Content-Type"] == "application/problem+json"
            body = down.json()
            assert body["status"] == 503
            assert body["checks"]["redis"].startswith("failed: ")
            assert body["checks"]["postgresql"] == "ok"
            assert body["detail"] == "Not ready: redis failed."

            server = _start_redis(port, tmp_path)
            back = client.get("/ready/")
            assert back.status_code == 200
            assert back.json()["checks"] == {"postgresql": "ok", "redis": "ok"}
    finally:
        server.kill()
        server.wait(timeout=10)


def test_api_errors_are_problem_details(tenant):
    client = Client(HTTP_HOST=TENANT)
    unauthenticated = client.get("/api/v1/audit/events/")
    assert unauthenticated.status_code in (401, 403)
    assert unauthenticated["Content-Type"] == "application/problem+json"
    body = unauthenticated.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    missing = client.get("/api/v1/no-such-thing/")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"


def test_validation_errors_list_fields(tenant):
    response = Client(HTTP_HOST=TENANT).post("/api/v1/auth/token/", {"email": "not-an-email"}, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert "email" in body["errors"]
    assert "password" in body["errors"]


def test_unhandled_api_error_is_a_500_problem(tenant):
    response = problems.exception_handler(RuntimeError("boom"), {})
    assert response.status_code == 500
    assert response.data["status"] == 500
    assert "boom" not in response.data["detail"]


def test_500_page_is_problem_json_for_api_and_html_otherwise(tenant):
    factory = RequestFactory()
    api = problems.handler500(factory.get("/api/v1/tickets/"))
    assert api.status_code == 500
    assert api["Content-Type"] == "application/problem+json"
    html = problems.handler500(factory.get("/somewhere/", HTTP_ACCEPT="text/html"))
    assert html.status_code == 500
    assert b"<html" in html.content


@pytest.fixture
def console_log():
    """What the configured console handler (request-id and tenant filters, our format) writes."""
    import io
    import logging

    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


@pytest.mark.parametrize(
    ("host", "path", "schema"),
    [
        (TENANT, "/api/v1/no-such-thing/", "t_alpha"),  # a 404 raised inside the URL resolver
        ("nobody.localhost", "/", "public"),  # a 404 response from the tenant middleware itself
    ],
)
def test_log_lines_written_during_a_request_carry_its_request_id(tenant, console_log, host, path, schema):
    response = Client(HTTP_HOST=host).get(path, HTTP_X_REQUEST_ID="req-log-0042")
    assert response.status_code == 404
    lines = [line for line in console_log.getvalue().splitlines() if "Not Found" in line]
    assert len(lines) == 1, console_log.getvalue()
    assert f"WARNING [req-log-0042] [{schema}] django.request: Not Found: {path}" in lines[0]


def test_runserver_access_lines_go_through_the_console_handler(console_log):
    import logging

    logging.getLogger("django.server").info('"GET /health/ HTTP/1.1" 200 15')
    assert 'INFO [-] [public] django.server: "GET /health/ HTTP/1.1" 200 15' in console_log.getvalue()
