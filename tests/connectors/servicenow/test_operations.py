"""Operating the ServiceNow connector: connector_sync and connector_undo, the filter, the
Celery tasks and beat entry, the admin pages, the fake run standalone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command
from django.test import Client

from apps.audit.models import AuditEvent
from apps.connectors.servicenow.models import IncidentLink, SyncState, WriteBack
from apps.connectors.servicenow.services import PollRefused, servicenow_filter_set, writeback_request
from apps.core.errors import ApplicationError
from tests.connectors.conftest import SECRET

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def test_connector_sync_runs_one_poll_and_prints_json(snow, snow_connector, capsys):
    snow.seed(3, start=T0)
    call_command("connector_sync", "--tenant", "alpha", "--connector", "snow")
    report = json.loads(capsys.readouterr().out)
    assert (report["tenant"], report["connector"], report["imported"], report["ok"]) == ("alpha", "snow", 3, True)
    event = AuditEvent.objects.get(action="connector.synced")
    assert event.actor_label.startswith("operator:")
    call_command("connector_sync", "--tenant", "alpha", "--connector", "snow", "--summary")
    assert capsys.readouterr().out.startswith("alpha/snow: 1 page(s), 3 fetched, 0 imported")


@pytest.mark.parametrize(("args", "message"), [
    (["--tenant", "nope", "--connector", "snow"], "no tenant with slug 'nope'"),
    (["--tenant", "alpha", "--connector", "missing"], "no connector 'missing'"),
    (["--tenant", "alpha", "--connector", "gh"], "is a github connector"),
    (["--tenant", "alpha", "--connector", "off"], "is disabled"),
    (["--tenant", "alpha", "--connector", "snow", "--max-pages", "0"], "--max-pages"),
])
def test_connector_sync_refuses_bad_input_in_one_line(snow_connector, make_connector, admin_user, args, message):
    from apps.connectors.services.connectors import connector_update

    make_connector(kind="github", name="gh", base_url="https://api.github.com")
    connector_update(actor=admin_user, connector=make_connector(name="off"), enabled=False)
    with pytest.raises(CommandError) as refused:
        call_command("connector_sync", *args)
    assert refused.value.returncode == 2
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_connector_sync_exits_1_when_servicenow_fails(snow, snow_connector, capsys, settings):
    from fakes.servicenow import Fault

    settings.WARDEN_CONNECTORS_MAX_ATTEMPTS = 1
    snow.fail_next(Fault(503))
    with pytest.raises(CommandError) as failed:
        call_command("connector_sync", "--tenant", "alpha", "--connector", "snow")
    assert failed.value.returncode == 1
    assert json.loads(capsys.readouterr().out)["error"]


def test_an_invalid_filter_is_refused_and_nothing_is_fetched(snow, snow_connector, admin_user, poll):
    snow.seed(2, start=T0)
    with pytest.raises(ApplicationError) as refused:
        servicenow_filter_set(actor=admin_user, connector=snow_connector, query_filter="activ=true")
    assert "Unknown field 'activ'" in refused.value.message
    # A filter stored some other way is checked again before every poll.
    SyncState.objects.update_or_create(connector=snow_connector, defaults={"query_filter": "activ=true"})
    with pytest.raises(PollRefused) as stopped:
        poll()
    assert "Unknown field 'activ'" in stopped.value.message
    with pytest.raises(CommandError) as command:
        call_command("connector_sync", "--tenant", "alpha", "--connector", "snow")
    assert "Unknown field 'activ'" in str(command.value)
    assert snow.requests == []  # nothing fetched
    # Why it matters: ServiceNow by default drops the unknown term and matches everything.
    snow.strict = False
    answer = requests.get(f"{snow.url}/api/now/table/incident", params={"sysparm_query": "activ=true"},
                          headers={"Authorization": f"Bearer {SECRET}"}, timeout=5)
    assert answer.headers["X-Total-Count"] == "2"


def test_a_valid_filter_narrows_the_poll(snow, snow_connector, admin_user, poll):
    snow.seed(6, start=T0, groups=("Desk", "Network"))
    servicenow_filter_set(actor=admin_user, connector=snow_connector, query_filter="assignment_group.name=Network")
    assert poll().imported == 3
    assert snow.requests[0].query["sysparm_query"].startswith("assignment_group.name=Network^")
    assert AuditEvent.objects.filter(action="connector.servicenow_filter_changed").exists()


def test_connector_undo_from_the_cli(snow, snow_connector, poll, agent_user, capsys):
    [sys_id] = snow.seed(1, start=T0, priority="3")
    poll()
    ticket = IncidentLink.objects.get(sys_id=sys_id).ticket
    row = writeback_request(actor=agent_user, ticket=ticket, changes={"priority": "1"})
    with pytest.raises(CommandError) as no_reason:
        call_command("connector_undo", "--tenant", "alpha", "--write", str(row.pk), "--reason", " ")
    assert no_reason.value.returncode == 2
    with pytest.raises(CommandError) as unknown:
        call_command("connector_undo", "--tenant", "alpha", "--write", "999999", "--reason", "x")
    assert "no write-back 999999" in str(unknown.value)
    call_command("connector_undo", "--tenant", "alpha", "--write", str(row.pk), "--reason", "agent clicked wrong",
                 "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "sent"
    assert snow.get(sys_id)["priority"] == "3"
    undo = WriteBack.objects.get(pk=report["undo"])
    assert undo.approved_by_label.startswith("operator:")
    assert AuditEvent.objects.get(action="servicenow.undo_sent").actor_label.startswith("operator:")
    with pytest.raises(CommandError) as again:  # a second undo of an undone write: the same undo, reported
        call_command("connector_undo", "--tenant", "alpha", "--write", str(undo.pk), "--reason", "x")
    assert "cannot be undone" in str(again.value)


def test_the_tasks_poll_every_enabled_connector(snow, snow_connector, monkeypatch):
    from apps.connectors.servicenow import tasks

    snow.seed(2, start=T0)
    queued = []
    monkeypatch.setattr(tasks.servicenow_poll_task, "apply_async", lambda **options: queued.append(options))
    assert tasks.servicenow_poll_all.apply().get() == 1
    assert queued == [{"kwargs": {"connector_id": snow_connector.pk}}]
    result = tasks.servicenow_poll_task.apply(kwargs={"connector_id": snow_connector.pk}).get()
    assert result["imported"] == 2
    assert tasks.servicenow_poll_task.apply(kwargs={"connector_id": 999999}).get() == {"skipped": "deleted"}


def test_a_run_that_stopped_on_its_budget_continues(snow, snow_connector, monkeypatch, settings):
    from apps.connectors.servicenow import tasks

    settings.WARDEN_SERVICENOW_MAX_PAGES = 1
    snow.seed(15, start=T0)
    queued = []
    monkeypatch.setattr(tasks.servicenow_poll_task, "apply_async", lambda **options: queued.append(options))
    assert tasks.servicenow_poll_task.apply(kwargs={"connector_id": snow_connector.pk}).get()["more"] is True
    assert queued == [{"kwargs": {"connector_id": snow_connector.pk, "continuation": 1}}]


def test_the_periodic_poll_is_registered():
    from apps.core import periodic

    entry = next(e for e in periodic.SCHEDULE if e.name == "connectors-servicenow-poll")
    assert entry.tenant_task == "connectors.servicenow_poll_all"


def test_the_admin_shows_sync_links_and_write_backs(snow, snow_connector, poll, agent_user, admin_user):
    [sys_id] = snow.seed(1, start=T0)
    poll()
    ticket = IncidentLink.objects.get(sys_id=sys_id).ticket
    row = writeback_request(actor=agent_user, ticket=ticket, changes={"urgency": "1", "work_notes": "n"})
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(admin_user)
    for url in ("/admin/connectors/syncstate/", "/admin/connectors/incidentlink/", "/admin/connectors/writeback/",
                f"/admin/connectors/writeback/{row.pk}/change/",
                f"/admin/connectors/incidentlink/{IncidentLink.objects.get().pk}/change/",
                f"/admin/connectors/syncstate/{SyncState.objects.get().pk}/change/"):
        page = client.get(url)
        assert page.status_code == 200, url
    detail = client.get(f"/admin/connectors/writeback/{row.pk}/change/").content.decode()
    assert "nav_to.do?uri=incident.do%3Fsys_id%3D" + sys_id in detail
    assert "values before" in detail.lower()
    undone = client.post("/admin/connectors/writeback/", {"action": "undo_selected", "_selected_action": [row.pk]})
    assert undone.status_code == 302
    row.refresh_from_db()
    assert row.status == "undone"
    agent = Client(HTTP_HOST="alpha.localhost")
    agent.force_login(agent_user)
    assert agent.get("/admin/connectors/writeback/").status_code in (302, 403)


def test_the_fake_runs_standalone():
    process = subprocess.Popen([sys.executable, "-m", "fakes.servicenow", "--port", "0", "--seed", "3", "--token", "t"],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        started = json.loads(process.stdout.readline())
        url = started["url"]
        assert url.startswith("http://127.0.0.1:")
        answer = requests.get(f"{url}/api/now/table/incident", params={"sysparm_limit": 2},
                              headers={"Authorization": "Bearer t"}, timeout=5)
        assert answer.status_code == 200
        assert answer.headers["X-Total-Count"] == "3"
        assert 'rel="next"' in answer.headers["Link"]
        assert requests.get(f"{url}/api/now/table/incident", timeout=5).status_code == 401
        requests.post(f"{url}/_fake/faults", json=[{"status": 429, "retry_after": 7}], timeout=5)
        limited = requests.get(f"{url}/api/now/table/incident", headers={"Authorization": "Bearer t"}, timeout=5)
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
        assert requests.post(f"{url}/_fake/seed", json={"count": 5}, timeout=5).json()["seeded"] == 5
        assert requests.get(f"{url}/_fake/state", timeout=5).json()["incidents"] == 8
    finally:
        process.terminate()
        deadline = time.monotonic() + 5
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            process.kill()
        process.stdout.close()
