"""Request ids, problem details, health, readiness and metrics on both hosts."""

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


def test_ready_names_redis_when_it_is_down(tenant):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = Client(HTTP_HOST=TENANT).get("/ready/")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"].startswith("failed")
    assert body["checks"]["postgresql"] == "ok"
    assert "redis" in body["detail"]


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
