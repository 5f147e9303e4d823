"""The pure modules: encoded queries (field names checked), paging links, the mapping of
incidents and write-back values. No database, no network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.connectors.servicenow import mapping
from apps.connectors.servicenow import query as q

URL = "https://acme.service-now.com"


def test_a_query_is_built_from_checked_parts():
    query = q.Query("incident", (q.Condition("sys_updated_on", ">=", "2026-11-02 08:00:00"),
                                 q.Condition("assignment_group.name", "=", "Service Desk"),
                                 q.Condition("active", "ISNOTEMPTY")),
                    order_by=("sys_updated_on", "-sys_id"))
    assert query.encoded() == ("sys_updated_on>=2026-11-02 08:00:00^assignment_group.name=Service Desk^active"
                               "ISNOTEMPTY^ORDERBYsys_updated_on^ORDERBYDESCsys_id")


@pytest.mark.parametrize(("condition", "message"), [
    (q.Condition("sys_updated_onn", ">=", "x"), "Unknown field 'sys_updated_onn'"),
    (q.Condition("SYS_ID", "=", "x"), "Unknown field"),
    (q.Condition("number.name", "=", "x"), "not a reference"),
    (q.Condition("assignment_group.owner", "=", "x"), "Unknown field"),
    (q.Condition("number", "~=", "x"), "Unknown query operator"),
    (q.Condition("number", "=", "INC1^ORnumber=INC2"), "may not contain ^"),
    (q.Condition("number", "=", "INC1\nx"), "control characters"),
])
def test_anything_servicenow_would_ignore_or_misread_is_refused(condition, message):
    with pytest.raises(q.QueryInvalid) as refused:
        q.Query("incident", (condition,)).encoded()
    assert message in refused.value.message


def test_order_fields_and_field_lists_are_checked_too():
    with pytest.raises(q.QueryInvalid):
        q.Query("incident", order_by=("updated",)).encoded()
    with pytest.raises(q.QueryInvalid):
        q.fields_param("incident", ["number", "nubmer"])
    assert q.fields_param("incident", ["number", "caller_id.email", "number"]) == "number,caller_id.email"
    with pytest.raises(q.QueryInvalid):
        q.check_table("sys_audit")


def test_an_admins_filter_is_parsed_and_checked():
    assert q.parse_filter("incident", "active=true^assignment_group.name=Service Desk") == (
        q.Condition("active", "=", "true"), q.Condition("assignment_group.name", "=", "Service Desk"))
    assert q.parse_filter("incident", "") == ()
    for bad in ("bogus=1", "active=true^ORstate=2", "ORDERBYnumber", "state", "priority<=2^NQstate=1"):
        with pytest.raises(q.QueryInvalid):
            q.parse_filter("incident", bad)


def test_link_headers():
    header = (f'<{URL}/api/now/table/incident?sysparm_limit=2&sysparm_offset=0>;rel="first",'
              f'<{URL}/api/now/table/incident?sysparm_limit=2&sysparm_offset=2&sysparm_query=a%3D1>;rel="next",'
              f'<{URL}/api/now/table/incident?sysparm_limit=2&sysparm_offset=8>;rel="last"')
    links = q.parse_link_header(header)
    assert set(links) == {"first", "next", "last"}
    path = q.next_path(header, base_url=URL, path="/api/now/table/incident", expected={"sysparm_query": "a=1"})
    assert path == "/api/now/table/incident?sysparm_limit=2&sysparm_offset=2&sysparm_query=a%3D1"
    assert q.next_path(f'<{URL}/x>;rel="last"', base_url=URL, path="/api/now/table/incident", expected={}) is None


@pytest.mark.parametrize("next_url", [
    "https://evil.example.com/api/now/table/incident?sysparm_offset=2&sysparm_query=a%3D1",
    "http://acme.service-now.com/api/now/table/incident?sysparm_offset=2&sysparm_query=a%3D1",
    f"{URL}/api/now/table/sys_user?sysparm_offset=2&sysparm_query=a%3D1",
    f"{URL}/api/now/table/incident?sysparm_offset=2&sysparm_query=",
    f"{URL}/api/now/table/incident?sysparm_offset=-5&sysparm_query=a%3D1",
])
def test_a_next_link_elsewhere_or_with_another_query_is_not_followed(next_url):
    with pytest.raises(q.QueryInvalid):
        q.next_path(f'<{next_url}>;rel="next"', base_url=URL, path="/api/now/table/incident",
                    expected={"sysparm_query": "a=1"})


def _row(**values):
    row = {"sys_id": "a" * 32, "number": "INC0010001", "sys_mod_count": "3", "sys_updated_on": "2026-11-02 08:00:00",
           "state": "6", "impact": "1", "urgency": "3", "assignment_group": {"link": "x", "value": "b" * 32},
           "assignment_group.name": "Network", "caller_id.email": "Ann@Example.COM", "short_description": "Secret",
           "description": "More secret", "close_code": "Solved (Work Around)"}
    row.update(values)
    return row


def test_rows_become_incidents_and_metadata_only_keeps_no_text():
    incident = mapping.incident_from_row(_row(), full_content=False)
    assert (incident.sys_id, incident.mod_count, incident.assignment_group) == ("a" * 32, 3, "b" * 32)
    assert incident.updated_on == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert incident.caller_email == "ann@example.com"
    assert incident.short_description == ""
    assert incident.description == ""
    assert "Secret" not in str(incident.snapshot())
    assert mapping.ticket_title(incident) == "INC0010001"
    full = mapping.incident_from_row(_row(), full_content=True)
    assert full.snapshot()["short_description"] == "Secret"
    assert mapping.ticket_title(full) == "INC0010001: Secret"
    assert (mapping.ticket_status(incident.state), mapping.resolution_code(incident.close_code)) == ("resolved",
                                                                                                    "workaround")


@pytest.mark.parametrize("values", [{"sys_id": "nope"}, {"sys_mod_count": "x"}, {"sys_updated_on": ""},
                                    {"sys_updated_on": "02/11/2026"}, {"number": ""}])
def test_rows_that_are_no_incident_are_refused(values):
    with pytest.raises(mapping.RowInvalid):
        mapping.incident_from_row(_row(**values), full_content=False)


def test_write_back_values_and_keys():
    assert mapping.clean_changes({"priority": 2, "work_notes": " hi "}) == {"priority": "2", "work_notes": "hi"}
    for bad in ({"state": "6"}, {"priority": "0"}, {"impact": "4"}, {"assignment_group": "Network"},
                {"work_notes": ""}, {"category": "a^b"}, {}):
        with pytest.raises(mapping.WriteInvalid):
            mapping.clean_changes(bad)
    key = mapping.idempotency_key(connector_id=1, ticket_id=7, changes={"priority": "2"}, version=4)
    assert key.startswith("servicenow:1:ticket-7:priority:")
    assert key.endswith(":v4")
    assert key == mapping.idempotency_key(connector_id=1, ticket_id=7, changes={"priority": "2"}, version=4)
    assert key != mapping.idempotency_key(connector_id=1, ticket_id=7, changes={"priority": "3"}, version=4)
    assert key != mapping.idempotency_key(connector_id=1, ticket_id=7, changes={"priority": "2"}, version=5)


def test_an_undo_restores_and_compensates():
    undo = mapping.undo_changes(writeback_id=9, number="INC1", prior={"priority": "3"},
                                written={"priority": "1", "work_notes": "x"}, reason="wrong")
    assert undo["priority"] == "3"
    assert "#9" in undo["work_notes"]
    assert "wrong" in undo["work_notes"]
    assert mapping.fields_changed_since({"priority": "2"}, {"priority": "1"}) == ["priority"]
    assert mapping.fields_changed_since({"priority": "1"}, {"priority": "1", "work_notes": "x"}) == []
