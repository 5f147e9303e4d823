"""The priority matrix in the tenant admin: an impact x urgency grid of P1..P4 selects,
saved through `priority_matrix_set` (policy-checked, audited), never raw JSON."""

from __future__ import annotations

import re

import pytest

from apps.audit.models import AuditEvent
from apps.tickets import services
from apps.tickets.models import PriorityMatrix
from apps.tickets.priority import DEFAULT_MATRIX
from tests.admin.htmlform import parse_form

URL = "/admin/tickets/prioritymatrix/"


@pytest.fixture
def matrix(admin_user):
    services.priority_matrix_set(actor=admin_user, matrix=DEFAULT_MATRIX)
    return PriorityMatrix.objects.get()


def _page(client, row):
    page = client.get(f"{URL}{row.pk}/change/")
    assert page.status_code == 200
    return page.content.decode()


def test_the_matrix_is_a_grid_of_priority_selects(web_as, admin_user, matrix):
    html = _page(web_as(admin_user), matrix)
    assert "<textarea" not in html
    selects = re.findall(r'<select name="matrix_(\d)_(\d)"[^>]*aria-label="([^"]+)"', html)
    assert [(i, u) for i, u, _label in selects] == [(str(i), str(u)) for i in (1, 2, 3) for u in (1, 2, 3)]
    assert selects[1][2] == "Impact High, urgency Medium"
    form = parse_form(html, "prioritymatrix_form")
    chosen = dict(form.data)
    assert {f"matrix_{i}_{u}": DEFAULT_MATRIX[str(i)][str(u)] for i in "123" for u in "123"}.items() <= chosen.items()
    assert re.findall(r'<option value="(P\d)"', html)[:4] == ["P1", "P2", "P3", "P4"]


def test_changing_a_cell_saves_through_the_service(web_as, admin_user, matrix):
    client = web_as(admin_user)
    form = parse_form(_page(client, matrix), "prioritymatrix_form")
    data = form.as_post(("_save", "Save"))
    data["matrix_3_1"] = ["P2"]
    response = client.post(f"{URL}{matrix.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    stored = PriorityMatrix.objects.get().matrix
    assert stored["3"] == {"1": "P2", "2": "P4", "3": "P4"}
    assert stored["1"] == DEFAULT_MATRIX["1"]
    event = AuditEvent.objects.filter(action="priority_matrix.changed").latest("seq")
    assert event.actor_id == admin_user.pk
    assert event.payload_data["to"]["3"]["1"] == "P2"
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()


def test_a_value_outside_p1_to_p4_is_a_form_error_and_nothing_changes(web_as, admin_user, matrix):
    client = web_as(admin_user)
    before = AuditEvent.objects.filter(action="priority_matrix.changed").count()
    data = parse_form(_page(client, matrix), "prioritymatrix_form").as_post(("_save", "Save"))
    data["matrix_2_2"] = ["P9"]
    response = client.post(f"{URL}{matrix.pk}/change/", data)
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert PriorityMatrix.objects.get().matrix == DEFAULT_MATRIX
    assert AuditEvent.objects.filter(action="priority_matrix.changed").count() == before


def test_a_tenant_without_a_stored_matrix_adds_one_from_the_defaults(web_as, admin_user):
    client = web_as(admin_user)
    page = client.get(f"{URL}add/")
    assert page.status_code == 200
    data = parse_form(page.content.decode(), "prioritymatrix_form").as_post(("_save", "Save"))
    assert data["matrix_1_1"] == ["P1"]
    data["matrix_1_3"] = ["P2"]
    response = client.post(f"{URL}add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert PriorityMatrix.objects.get().matrix["1"] == {"1": "P1", "2": "P2", "3": "P2"}
