"""Property-based fuzzing of the tickets API from its own OpenAPI schema (schemathesis).

Every operation of the tickets routes gets positive and negative examples (bounded),
sent in-process through the WSGI app on host alpha.localhost, authenticated with a real
token. No response may be a 5xx, and every response must match the schema (status code
documented, content type, body shape).
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.tickets import services

pytestmark = pytest.mark.slow

TICKETS_PATHS = ("/api/v1/tickets/", "/api/v1/attachments/", "/api/v1/categories/", "/api/v1/teams/")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 25


@contextmanager
def in_process_wsgi():
    """Django's WSGI handler inside the test's transaction: the handler's request signals
    would otherwise close the connection (and so the transaction) around each request.
    (Django's test Client reconnects them after each of its requests: use no Client inside.)"""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(make_ticket, admin_user, agent_user, png_file):
    ticket = make_ticket(title="Fuzz target", description="Some *text*")
    services.comment_add(actor=agent_user, ticket=ticket, body="A comment")
    attachment = services.attachment_add(actor=agent_user, ticket=ticket, fileobj=png_file(), filename="f.png")
    services.category_create(actor=admin_user, name="Hardware")
    return {"number": ticket.number, "attachment_id": attachment.pk}


def test_tickets_api_conforms_to_its_schema(api_as, admin_user, fuzz_world):
    from apps.accounts.services import token_issue

    client = api_as(admin_user)
    raw = json.loads(client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    raw["paths"] = {path: item for path, item in raw["paths"].items() if path.startswith(TICKETS_PATHS)}
    assert len(raw["paths"]) == 9
    schema = schemathesis.openapi.from_dict(raw)
    headers = {"Authorization": f"Token {token_issue(user=admin_user).key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13
    failures: list[str] = []
    calls = {"n": 0}

    def runner(operation, mode):
        @hypothesis_settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            if mode == GenerationMode.POSITIVE:
                # Aim valid examples at real objects so they reach the services.
                for name, value in fuzz_world.items():
                    if case.path_parameters and name in case.path_parameters:
                        case.path_parameters[name] = value
            response = case.call(app=app, headers=headers, base_url="http://alpha.localhost")
            calls["n"] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

        return run

    with in_process_wsgi() as app:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    runner(operation, mode)()
                except Unsatisfiable:
                    continue  # no invalid value exists for this operation (e.g. a free-form path segment)
                except BaseException as exc:  # noqa: BLE001 - collected: one report for every operation
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    failures.append(f"{operation.label} [{mode.value}]: {type(exc).__name__}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
    assert calls["n"] > 200
