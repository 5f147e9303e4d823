"""A write with a field the endpoint does not accept is a 400 problem naming that field
(`errors.<field>`), and nothing is written; it used to be dropped without a word. For
EVERY write route of the API v1: each (route, POST/PUT/PATCH) must have a case in the
permission matrix (tests/api/test_permission_matrix.py) that succeeds for some role; that
case's body plus an unknown field must be refused, and the same body alone still works."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from tests.api.test_permission_matrix import CASES, ROLES, _fill, _Lazy, api_routes, world  # noqa: F401

WRITES = ("POST", "PUT", "PATCH")
UNKNOWN = "Unknown field: this request does not accept it."
# Write routes no user may call (another credential), with the same check where that
# credential is made.
CHECKED_ELSEWHERE = {
    ("connectors-api:agent-poll", "POST"): "tests/connectors/test_agent_api.py, with an agent token",
    ("connectors-api:agent-results", "POST"): "tests/connectors/test_agent_api.py, with an agent token",
}


def _successful_cases() -> dict[tuple[str, str], tuple[str, str, str, int]]:
    """(route, method) -> the first (case name, role, ownership, status) that succeeds."""
    found = {}
    for name, case in CASES.items():
        if case.method not in WRITES or (case.route, case.method) in found:
            continue
        for role in ROLES:
            expected = case.expect[role]
            options = expected.items() if isinstance(expected, dict) else [("-", expected)]
            success = [(ownership, status) for ownership, status in options if 200 <= status < 300]
            if success:
                found[(case.route, case.method)] = (name, role, *success[0])
                break
    return found


SUCCESSFUL = _successful_cases()


def _head() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def test_every_write_route_is_checked(tenant):
    writes = {(route, method) for route, method in api_routes() if method in WRITES}
    assert writes, "no write routes found"
    missing = sorted(writes - set(SUCCESSFUL) - set(CHECKED_ELSEWHERE))
    assert not missing, f"write routes without a successful permission-matrix case to check here: {missing}"


@pytest.mark.parametrize(("route", "method"), sorted(SUCCESSFUL), ids=[f"{m} {r}" for r, m in sorted(SUCCESSFUL)])
def test_an_unknown_field_is_a_400_naming_it(route, method, world, api_as, png_file):  # noqa: F811
    name, role, ownership, status = SUCCESSFUL[(route, method)]
    case = CASES[name]
    key = ownership if ownership != "-" else "own"
    path = case.path.format_map(_Lazy(world, role, key))
    client = api_as(world.users[role])
    body = _fill(case.body or {}, world, role, ownership)

    def send(data):
        if case.multipart:
            return client.post(path, {**data, "file": png_file()}, format="multipart")
        return getattr(client, method.lower())(path, data, format="json")

    before = _head()
    refused = send({**body, "colour": "red"})
    assert refused.status_code == 400, (name, refused.content[:500])
    assert refused["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert problem["errors"]["colour"] == [UNKNOWN], problem
    assert set(problem["errors"]) == {"colour"}, problem  # the rest of the body was fine
    assert _head() == before, "a refused write left an audit event"
    accepted = send(body)
    assert accepted.status_code == status, (name, accepted.content[:500])


def test_a_ticket_patch_with_only_unknown_fields_changes_nothing(api_as, agent_user, make_ticket):
    ticket = make_ticket()
    response = api_as(agent_user).patch(f"/api/v1/tickets/{ticket.number}/",
                                        {"titel": "typo", "asignee": agent_user.pk}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"titel", "asignee"}
    ticket.refresh_from_db()
    assert ticket.title != "typo"
    assert ticket.assignee_id is None


def test_unknown_fields_are_named_next_to_the_other_errors(api_as, agent_user):
    response = api_as(agent_user).post("/api/v1/tickets/", {"title": "", "colour": "red"}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"title", "colour"}
    assert errors["colour"] == [UNKNOWN]


def test_nested_input_is_strict_too(api_as, admin_user):
    from apps.sla import services
    from apps.sla.validation import CalendarInput

    calendar = services.sla_calendar_save(actor=admin_user, data=CalendarInput(name="24x7", timezone="UTC",
                                                                                 always_open=True))
    body = {
        "name": "Nested", "calendar": calendar.pk,
        "targets": {"P1": {"first_response": 15, "resolution": 60, "colour": "red"}},
        "escalations": [{"at_percent": 100, "action": "notify_assignee", "urgent": True}],
    }
    response = api_as(admin_user).post("/api/v1/sla/policies/", body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert errors["targets.P1.colour"] == [UNKNOWN]
    assert errors["escalations.0.urgent"] == [UNKNOWN]


def test_a_read_only_field_sent_in_a_write_is_refused_too(api_as, agent_user, make_ticket):
    ticket = make_ticket()
    response = api_as(agent_user).patch(f"/api/v1/tickets/{ticket.number}/", {"number": 1, "status": "closed"},
                                        format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"number", "status"}


def test_a_session_forms_csrf_token_is_not_a_field(web_as, requester_user, make_ticket, png_file):
    ticket = make_ticket()
    client = web_as(requester_user)
    client.handler.enforce_csrf_checks = True
    client.get("/portal/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(f"/api/v1/tickets/{ticket.number}/attachments/",
                           {"file": png_file(), "csrfmiddlewaretoken": token})
    assert response.status_code == 201, response.content[:500]
