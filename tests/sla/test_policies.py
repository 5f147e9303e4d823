"""SLA policies and calendars: bad ones are refused with clear messages (services, the
Django admin, the API); good ones are saved through the services and audited."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError
from apps.sla import services
from apps.sla.models import SlaCalendar, SlaPolicy
from apps.sla.validation import CalendarInput, ShiftInput

from .factories import make_calendar, make_policy

pytestmark = pytest.mark.django_db


def _refused(call) -> dict[str, list[str]]:
    with pytest.raises(ApplicationError) as info:
        call()
    return info.value.errors


# --- Services ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "key", "fragment"),
    [
        ({"P1": {"first_response": 0}}, "targets.P1.first_response", "positive number of minutes"),
        ({"P1": {"resolution": -30}}, "targets.P1.resolution", "zero and negative targets are refused"),
        ({"P1": {"resolution": 1.5}}, "targets.P1.resolution", "whole number"),
        ({"P9": {"resolution": 10}}, "targets", "Unknown priority 'P9'"),
        ({}, "targets", "at least one target"),
        ({"P1": {"first_response": None, "resolution": None}}, "targets", "at least one target"),
    ],
)
def test_bad_targets_are_refused(always_open, admin_user, targets, key, fragment):
    errors = _refused(lambda: make_policy(calendar=always_open, actor=admin_user, targets=targets))
    assert any(fragment in m for m in errors[key]), errors
    assert not SlaPolicy.objects.exists()


def test_overlapping_policies_at_the_same_order_are_refused(always_open, admin_user):
    from apps.accounts.models import Team
    from apps.tickets.models import Category

    network = Category.objects.create(name="Network")
    wifi = Category.objects.create(name="Wi-Fi", parent=network)
    printers = Category.objects.create(name="Printers")
    desk, ops = Team.objects.get(name="Desk"), Team.objects.get(name="Ops")
    make_policy(
        calendar=always_open,
        actor=admin_user,
        name="Network",
        order=10,
        categories=[network],
        targets={"P1": {"resolution": 60}, "P2": {"resolution": 120}},
    )
    # Same order, a category below "Network", a common priority: refused, naming both.
    errors = _refused(
        lambda: make_policy(
            calendar=always_open, actor=admin_user, name="Wi-Fi", order=10, categories=[wifi], targets={"P2": {"resolution": 30}}
        )
    )
    assert errors["order"] == [
        "Policy “Network” has the same order (10) and also matches P2 tickets in overlapping categories of any team. "
        "Give one of them another order, or make their priorities, categories or teams disjoint."
    ]
    # Disjoint on any one axis, another order, or a draft: accepted.
    make_policy(
        calendar=always_open,
        actor=admin_user,
        name="Printers",
        order=10,
        categories=[printers],
        targets={"P2": {"resolution": 30}},
    )
    make_policy(
        calendar=always_open, actor=admin_user, name="P3 network", order=10, categories=[wifi], targets={"P3": {"resolution": 30}}
    )
    make_policy(
        calendar=always_open, actor=admin_user, name="Wi-Fi first", order=5, categories=[wifi], targets={"P2": {"resolution": 30}}
    )
    make_policy(
        calendar=always_open,
        actor=admin_user,
        name="Wi-Fi draft",
        order=10,
        categories=[wifi],
        active=False,
        targets={"P2": {"resolution": 30}},
    )
    make_policy(calendar=always_open, actor=admin_user, name="Desk", order=20, teams=[desk])
    errors = _refused(lambda: make_policy(calendar=always_open, actor=admin_user, name="Everything", order=20))
    assert "matches P1/P2/P3/P4 tickets in any category of the same teams" in errors["order"][0]
    make_policy(calendar=always_open, actor=admin_user, name="Ops", order=20, teams=[ops])


def test_thresholds_pause_statuses_and_steps_are_checked(always_open, admin_user):
    from apps.accounts.models import Team

    errors = _refused(
        lambda: make_policy(
            calendar=always_open,
            actor=admin_user,
            thresholds=[50, 100, 0, 50],
            pause_statuses=["resolved"],
            escalations=[
                {"at_percent": 80, "action": "notify_assignee"},
                {"at_percent": 100, "action": "reassign_team"},
                {"at_percent": 50, "action": "notify_team_lead", "team": Team.objects.first()},
            ],
        )
    )
    assert errors["warning_thresholds"] == [
        "100% is out of range: warnings lie between 1 and 99 % (100 % is the breach).",
        "0% is out of range: warnings lie between 1 and 99 % (100 % is the breach).",
        "50% is listed twice.",
    ]
    assert errors["pause_statuses"] == ["'resolved' cannot pause a clock: use new, open, pending."]
    assert errors["escalations.0"] == ["A step runs at a warning threshold or at the breach: 80% is not one of 50%, 100%."]
    assert errors["escalations.1"] == ["Choose the team to reassign to."]
    assert errors["escalations.2"] == ["Only 'reassign to a team' takes a team."]


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        (
            {"always_open": False, "shifts": []},
            "shifts",
            "A calendar needs business hours: add at least one shift, or make it 24x7.",
        ),
        (
            {"always_open": False, "shifts": [ShiftInput(6, time(22), time(6)), ShiftInput(0, time(5), time(9))]},
            "shifts",
            "Sunday 22:00-06:00 overlaps Monday 05:00-09:00.",
        ),
        ({"timezone": "Europe/Gdansk"}, "timezone", "Unknown time zone 'Europe/Gdansk': use an IANA name such as Europe/Warsaw."),
        (
            {"holiday_country": "XX"},
            "holiday_country",
            "No public holidays are known for 'XX': use an ISO code such as PL or US.",
        ),
        ({"holiday_country": "US", "holiday_subdivision": "ZZ"}, "holiday_subdivision", "US has no subdivision 'ZZ'"),
    ],
)
def test_bad_calendars_are_refused(admin_user, changes, key, message):
    data = CalendarInput(name="Bad", timezone="UTC", always_open=True)
    for field, value in changes.items():
        setattr(data, field, value)
    errors = _refused(lambda: services.sla_calendar_save(actor=admin_user, data=data))
    assert any(m.startswith(message) for m in errors[key]), errors
    assert not SlaCalendar.objects.filter(name="Bad").exists()


def test_saving_is_audited_and_policy_checked(always_open, admin_user, agent_user):
    from apps.policies.decisions import PolicyDenied

    policy = make_policy(calendar=always_open, actor=admin_user)
    event = AuditEvent.objects.filter(action="sla.policy_created").get()
    assert event.actor_id == admin_user.pk
    assert event.payload_data["after"]["targets"]["P1"]["resolution"] == 240
    data = services.policy_input_from_data({"order": 7}, base=policy)
    with pytest.raises(PolicyDenied):
        services.sla_policy_save(actor=agent_user, data=data, policy=policy)
    services.sla_policy_save(actor=admin_user, data=data, policy=policy)
    updated = AuditEvent.objects.filter(action="sla.policy_updated").get()
    assert (updated.payload_data["before"]["order"], updated.payload_data["after"]["order"]) == (100, 7)


def test_changing_a_policy_retargets_open_clocks_after_commit(
    always_open, admin_user, requester_user, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.sla import tasks

    from .factories import clocks, make_ticket

    policy = make_policy(calendar=always_open, actor=admin_user)
    ticket = make_ticket(requester=requester_user)
    services.sla_on_ticket_created(ticket)
    monkeypatch.setattr(tasks.recompute, "apply_async", lambda kwargs, **_options: tasks.recompute.run(**kwargs))
    data = services.policy_input_from_data({"targets": {"P3": {"first_response": 10, "resolution": 20}}}, base=policy)
    with django_capture_on_commit_callbacks(execute=True):
        services.sla_policy_save(actor=admin_user, data=data, policy=policy)
    resolution = clocks(ticket)["resolution"]
    assert resolution.target_seconds == 20 * 60
    assert resolution.due_at == ticket.created_at + timedelta(minutes=20)  # from the original start


def test_changing_a_calendar_retargets_its_open_clocks_after_commit(
    office, admin_user, requester_user, django_capture_on_commit_callbacks, monkeypatch
):
    """Warsaw office hours 09-17 -> 08-12: an open ticket's due time moves; a finished
    clock keeps its outcome."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from django.db import connection

    from apps.sla import tasks

    from .factories import clocks, make_ticket, set_status

    warsaw = ZoneInfo("Europe/Warsaw")
    make_policy(calendar=office, actor=admin_user, targets={"P3": {"resolution": 240}})
    monday_10 = datetime(2030, 1, 7, 10, 0, tzinfo=warsaw)
    open_ticket = make_ticket(requester=requester_user, created_at=monday_10, status="open")
    done_ticket = make_ticket(requester=requester_user, created_at=monday_10, status="open")
    for ticket in (open_ticket, done_ticket):
        services.sla_on_ticket_created(ticket)
    set_status(done_ticket, "resolved", datetime(2030, 1, 7, 13, 0, tzinfo=warsaw))
    assert clocks(open_ticket)["resolution"].due_at == datetime(2030, 1, 7, 14, 0, tzinfo=warsaw)
    finished = clocks(done_ticket)["resolution"]
    assert (finished.state, finished.due_at) == ("met", datetime(2030, 1, 7, 14, 0, tzinfo=warsaw))

    sent = []
    monkeypatch.setattr(tasks.recompute, "apply_async", lambda kwargs=None, **options: sent.append((kwargs, options)))
    hours = [ShiftInput(day, time(8), time(12)) for day in range(5)]
    data = CalendarInput(name=office.name, timezone="Europe/Warsaw", holiday_country="PL", shifts=hours)
    with django_capture_on_commit_callbacks(execute=True):
        services.sla_calendar_save(actor=admin_user, data=data, calendar=office)
    assert sent == [({"calendar_id": office.pk}, {"headers": {"_schema_name": connection.schema_name}})]
    assert clocks(open_ticket)["resolution"].due_at == datetime(2030, 1, 7, 14, 0, tzinfo=warsaw)  # not before the task
    tasks.recompute.apply(kwargs=sent[0][0], headers=sent[0][1]["headers"])
    # 10:00-12:00 on Monday (2 h), then 08:00-10:00 on Tuesday (2 h), from the original start.
    moved = clocks(open_ticket)["resolution"]
    assert moved.due_at == datetime(2030, 1, 8, 10, 0, tzinfo=warsaw) == datetime(2030, 1, 8, 9, 0, tzinfo=UTC)
    assert moved.started_at == monday_10
    assert moved.marks[0] == datetime(2030, 1, 7, 12, 0, tzinfo=warsaw)  # 50 %: the end of Monday's hours
    kept = clocks(done_ticket)["resolution"]
    assert (kept.state, kept.met_at, kept.due_at) == ("met", finished.met_at, finished.due_at)


# --- Django admin --------------------------------------------------------------------------


def _policy_post(calendar, **overrides) -> dict:
    data = {
        "name": "Gold",
        "description": "",
        "order": "10",
        "active": "on",
        "calendar": str(calendar.pk),
        "pause_statuses": ["pending"],
        "warning_thresholds": "50, 75, 90",
        "p1_first_response": "15",
        "p1_resolution": "240",
        "escalations-TOTAL_FORMS": "0",
        "escalations-INITIAL_FORMS": "0",
        "escalations-MIN_NUM_FORMS": "0",
        "escalations-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def admin_web(web_as, admin_user):
    return web_as(admin_user)


def test_the_admin_saves_a_policy_through_the_service(admin_web, always_open, agent_user):
    from apps.accounts.models import Team

    ops = Team.objects.get(name="Ops")
    response = admin_web.post(
        reverse("admin:sla_slapolicy_add"),
        _policy_post(
            always_open,
            **{
                "escalations-TOTAL_FORMS": "2",
                "escalations-0-at_percent": "90",
                "escalations-0-metric": "any",
                "escalations-0-action": "notify_team_lead",
                "escalations-0-position": "0",
                "escalations-1-at_percent": "100",
                "escalations-1-metric": "resolution",
                "escalations-1-action": "reassign_team",
                "escalations-1-team": str(ops.pk),
                "escalations-1-position": "1",
            },
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    policy = SlaPolicy.objects.get(name="Gold")
    assert policy.targets == {"P1": {"first_response": 15, "resolution": 240}}
    assert [(s.at_percent, s.action, s.team_id) for s in policy.escalations.all()] == [
        (90, "notify_team_lead", None),
        (100, "reassign_team", ops.pk),
    ]
    assert AuditEvent.objects.filter(action="sla.policy_created").exists()
    assert admin_web.get(reverse("admin:sla_slapolicy_change", args=[policy.pk])).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"p1_first_response": "0"},
            "P1 first response: must be a positive number of minutes (zero and negative targets are refused).",
        ),
        ({"p1_resolution": "-5"}, "P1 resolution: must be a positive number of minutes (zero and negative targets are refused)."),
        (
            {"p1_first_response": None, "p1_resolution": None},
            "Give at least one target (first response or resolution) for at least one priority.",
        ),
        ({"warning_thresholds": "50, 120"}, "120% is out of range: warnings lie between 1 and 99 % (100 % is the breach)."),
        ({"warning_thresholds": "fifty"}, "fifty is not a whole percentage."),
        (
            {
                "escalations-TOTAL_FORMS": "1",
                "escalations-0-at_percent": "60",
                "escalations-0-metric": "any",
                "escalations-0-action": "notify_assignee",
                "escalations-0-position": "0",
            },
            "A step runs at a warning threshold or at the breach: 60% is not one of 50%, 75%, 90%, 100%.",
        ),
    ],
)
def test_the_admin_shows_bad_policies_as_form_errors(admin_web, always_open, overrides, message):
    response = admin_web.post(reverse("admin:sla_slapolicy_add"), _policy_post(always_open, **overrides))
    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not SlaPolicy.objects.exists()


def test_the_admin_refuses_an_overlap_at_equal_order(admin_web, always_open, admin_user):
    make_policy(calendar=always_open, actor=admin_user, name="Silver", order=10, targets={"P1": {"resolution": 60}})
    response = admin_web.post(reverse("admin:sla_slapolicy_add"), _policy_post(always_open))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Policy “Silver” has the same order (10) and also matches P1 tickets in any category of any team." in body
    assert not SlaPolicy.objects.filter(name="Gold").exists()


def _calendar_post(**overrides) -> dict:
    data = {
        "name": "Night shift",
        "timezone": "Europe/Warsaw",
        "holiday_country": "PL",
        "holiday_subdivision": "",
        "shifts-TOTAL_FORMS": "1",
        "shifts-INITIAL_FORMS": "0",
        "shifts-MIN_NUM_FORMS": "0",
        "shifts-MAX_NUM_FORMS": "1000",
        "shifts-0-weekday": "0",
        "shifts-0-start": "22:00",
        "shifts-0-end": "06:00",
        "extra_holidays-TOTAL_FORMS": "1",
        "extra_holidays-INITIAL_FORMS": "0",
        "extra_holidays-MIN_NUM_FORMS": "0",
        "extra_holidays-MAX_NUM_FORMS": "1000",
        "extra_holidays-0-date": "2030-12-24",
        "extra_holidays-0-name": "Christmas Eve",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_the_admin_saves_a_calendar_with_an_overnight_shift(admin_web):
    response = admin_web.post(reverse("admin:sla_slacalendar_add"), _calendar_post())
    assert response.status_code == 302, response.content.decode()[:3000]
    calendar = SlaCalendar.objects.get(name="Night shift")
    assert [(s.weekday, s.start, s.end) for s in calendar.shifts.all()] == [(0, time(22), time(6))]
    assert [str(h.date) for h in calendar.extra_holidays.all()] == ["2030-12-24"]
    assert AuditEvent.objects.filter(action="sla.calendar_created").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"shifts-TOTAL_FORMS": "0"}, "A calendar needs business hours: add at least one shift, or make it 24x7."),
        (
            {"shifts-TOTAL_FORMS": "2", "shifts-1-weekday": "1", "shifts-1-start": "05:00", "shifts-1-end": "07:00"},
            "Monday 22:00-06:00 overlaps Tuesday 05:00-07:00.",
        ),
        ({"timezone": "Warsaw"}, "Unknown time zone 'Warsaw': use an IANA name such as Europe/Warsaw."),
        ({"holiday_country": "Poland!"}, "No public holidays are known for 'Poland!'"),
    ],
)
def test_the_admin_shows_bad_calendars_as_form_errors(admin_web, overrides, message):
    response = admin_web.post(reverse("admin:sla_slacalendar_add"), _calendar_post(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not SlaCalendar.objects.filter(name="Night shift").exists()


def test_a_24x7_calendar_needs_no_hours(admin_web):
    response = admin_web.post(
        reverse("admin:sla_slacalendar_add"), _calendar_post(**{"always_open": "on", "shifts-TOTAL_FORMS": "0"})
    )
    assert response.status_code == 302


@pytest.mark.parametrize("role", ["agent", "requester"])
def test_only_tenant_admins_get_into_the_sla_admin(web_as, users, role):
    response = web_as(users[role]).get(reverse("admin:sla_slapolicy_changelist"))
    assert response.status_code in (302, 403)


# --- API -------------------------------------------------------------------------------------


def _api_policy(cal, **overrides) -> dict:
    body = {
        "name": "API policy",
        "order": 5,
        "calendar": cal.pk,
        "targets": {"P1": {"first_response": 15, "resolution": 120}, "P2": {"resolution": 480}},
        "warning_thresholds": [60, 80],
        "escalations": [{"at_percent": 100, "action": "notify_assignee"}],
    }
    body.update(overrides)
    return body


def test_agents_read_admins_write_policies(api_as, users, always_open):
    url = "/api/v1/sla/policies/"
    admin, agent = api_as(users["admin"]), api_as(users["agent"])
    assert api_as(users["requester"]).get(url).status_code == 403
    assert agent.post(url, _api_policy(always_open), format="json").status_code == 403
    created = admin.post(url, _api_policy(always_open), format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["targets"] == {"P1": {"first_response": 15, "resolution": 120}, "P2": {"first_response": None, "resolution": 480}}
    assert body["warning_thresholds"] == [60, 80]
    assert body["escalations"][0]["action"] == "notify_assignee"
    listed = agent.get(url)
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()["results"]] == ["API policy"]
    detail = f"{url}{body['id']}/"
    patched = admin.patch(detail, {"order": 9, "active": False}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["order"], patched.json()["active"]) == (9, False)
    assert patched.json()["targets"]["P1"]["resolution"] == 120  # untouched fields kept
    put = admin.put(detail, _api_policy(always_open, name="Renamed"), format="json")
    assert put.status_code == 200
    assert put.json()["name"] == "Renamed"
    assert agent.patch(detail, {"order": 1}, format="json").status_code == 403


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"targets": {"P1": {"first_response": 0}}}, "targets.P1.first_response", "positive number of minutes"),
        ({"targets": {"P1": {"resolution": -1}}}, "targets.P1.resolution", "positive number of minutes"),
        ({"calendar": 999999}, "calendar", "Unknown calendar 999999."),
        ({"categories": [999999]}, "categories", "Unknown categories: 999999."),
        ({"warning_thresholds": [0]}, "warning_thresholds", "0% is out of range"),
    ],
)
def test_bad_policies_are_problem_details(api_as, users, always_open, overrides, key, fragment):
    response = api_as(users["admin"]).post("/api/v1/sla/policies/", _api_policy(always_open, **overrides), format="json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert any(fragment in m for m in body["errors"][key]), body


def test_calendars_and_dashboard_for_agents(api_as, users, always_open):
    agent = api_as(users["agent"])
    calendars = agent.get("/api/v1/sla/calendars/")
    assert calendars.status_code == 200
    assert calendars.json()["results"][0]["always_open"] is True
    dashboard = agent.get("/api/v1/sla/dashboard/")
    assert dashboard.status_code == 200
    assert "results" in dashboard.json()
    assert api_as(users["requester"]).get("/api/v1/sla/dashboard/").status_code == 403


def test_policy_input_from_a_missing_policy_is_not_found(api_as, users):
    assert api_as(users["admin"]).get("/api/v1/sla/policies/999999/").status_code == 404


def test_names_are_unique_whatever_the_case(always_open, admin_user):
    make_policy(calendar=always_open, actor=admin_user, name="Gold")
    errors = _refused(
        lambda: make_policy(calendar=always_open, actor=admin_user, name="gold", order=1, targets={"P4": {"resolution": 10}})
    )
    assert errors["name"] == ["A policy named “gold” already exists."]
    errors = _refused(lambda: make_calendar(actor=admin_user, name="ALWAYS"))
    assert errors["name"] == ["A calendar named “ALWAYS” already exists."]


def test_only_admins_delete_a_policy(api_as, users, always_open, requester_user):
    from apps.sla.models import SlaClock

    from .factories import make_ticket

    policy = make_policy(calendar=always_open, actor=users["admin"])
    ticket = make_ticket(requester=requester_user)
    services.sla_on_ticket_created(ticket)
    due = SlaClock.objects.get(ticket=ticket, metric="resolution").due_at
    url = f"/api/v1/sla/policies/{policy.pk}/"
    for role in ("requester", "agent"):
        refused = api_as(users[role]).delete(url)
        assert refused.status_code == 403, role
        assert refused["Content-Type"].startswith("application/problem+json")
    assert SlaPolicy.objects.filter(pk=policy.pk).exists()
    admin = api_as(users["admin"])
    assert admin.delete(url).status_code == 204
    assert not SlaPolicy.objects.filter(pk=policy.pk).exists()
    assert admin.get(url).status_code == 404
    assert admin.delete(url).status_code == 404
    event = AuditEvent.objects.get(action="sla.policy_deleted")
    assert event.payload_data["before"]["name"] == "Standard"
    clock = SlaClock.objects.get(ticket=ticket, metric="resolution")
    assert (clock.policy_id, clock.due_at) == (None, due)  # the clock keeps its deadline


def test_another_tenants_policy_is_not_found(api_as, users, always_open, other_tenant):
    from django_tenants.utils import tenant_context

    ours = make_policy(calendar=always_open, actor=users["admin"], name="Ours")
    with tenant_context(other_tenant):
        calendar = make_calendar(name="Theirs 24x7")
        theirs = make_policy(calendar=calendar, name="Theirs")
        if theirs.pk == ours.pk:  # ids are per schema: take one that means nothing here
            theirs = make_policy(calendar=calendar, name="Theirs too", order=7)
    assert not SlaPolicy.objects.filter(pk=theirs.pk).exists()
    response = api_as(users["admin"]).delete(f"/api/v1/sla/policies/{theirs.pk}/")
    assert response.status_code == 404
    assert response.json()["detail"] == f"There is no SLA policy {theirs.pk}."
    with tenant_context(other_tenant):
        assert SlaPolicy.objects.filter(pk=theirs.pk).exists()
    assert SlaPolicy.objects.filter(pk=ours.pk).exists()


def test_the_schema_documents_who_may_read_and_write_policies(api_as, users):
    response = api_as(users["agent"]).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    detail = next(v for k, v in paths.items() if k.startswith("/api/v1/sla/policies/{"))
    assert set(detail) >= {"get", "put", "patch", "delete"}
    assert "Tenant admins only" in detail["delete"]["description"]
    assert "requesters get 403" in paths["/api/v1/sla/policies/"]["get"]["description"]
