"""An unknown API route answers RFC 9457 problem details (404, application/problem+json),
with DEBUG on too: Django's DEBUG 404 page (technical_404_response) never reaches
handler404, so the API owns its 404s with a catch-all route under /api/."""

from __future__ import annotations

import pytest
from django.test import Client

PROBLEM = "application/problem+json"


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def _assert_problem(response, status: int = 404) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM, response.content[:500]
    assert response["X-Request-ID"]
    body = response.json()
    assert body["status"] == status
    assert body["title"] == "Not found"
    assert body["detail"]
    assert body["request_id"] == response["X-Request-ID"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v1/tickets/1/nope/", "/api/v2/tickets/", "/api/"])
def test_an_unknown_api_route_is_a_problem(debug, api_as, agent_user, path):
    client = api_as(agent_user)
    _assert_problem(client.get(path))
    _assert_problem(client.post(path, {"title": "x"}, format="json"))
    _assert_problem(client.delete(path))


def test_anonymous_and_session_callers_get_the_problem_too(debug, tenant, web_as, agent_user):
    _assert_problem(Client(HTTP_HOST="alpha.localhost").get("/api/v1/nope/", HTTP_ACCEPT="text/html"))
    _assert_problem(web_as(agent_user).post("/api/v1/nope/", {"title": "x"}))  # no CSRF refusal for nothing


def test_a_route_without_its_slash_is_still_redirected(debug, api_as, agent_user):
    client = api_as(agent_user)
    response = client.get("/api/v1/tickets")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/tickets/"
    assert client.get("/api/v1/tickets/").status_code == 200
    _assert_problem(client.get("/api/v1/nope", follow=True))
    # Any other method is not redirected (it would arrive as a GET): the problem names the address.
    body = _assert_problem(client.post("/api/v1/tickets", {"title": "x"}, format="json"))
    assert "/api/v1/tickets/" in body["detail"]


def test_the_platform_host_has_no_api(debug, db):
    from django.db import connection

    connection.set_schema_to_public()
    _assert_problem(Client(HTTP_HOST="localhost").get("/api/v1/tickets/"))


def test_other_unknown_pages_keep_their_html_404(tenant):
    response = Client(HTTP_HOST="alpha.localhost").get("/nope/", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
