"""Write-back and undo against the fake ServiceNow: the sys_mod_count check, policy
first (fail-closed), approval, the daily cap, idempotency, dry run, audit, undo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.audit.models import AuditEvent
from apps.connectors import breaker
from apps.connectors.servicenow.models import IncidentLink, WriteBack
from apps.connectors.servicenow.services import writeback_request, writeback_undo
from apps.core.errors import ApplicationError, Conflict
from apps.policies.models import DecisionLog
from fakes.servicenow import Fault

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def imported(snow, snow_connector, poll):
    """One incident imported as a ticket: (sys_id, ticket)."""
    [sys_id] = snow.seed(1, start=T0, state="2", priority="3", impact="2", urgency="2", category="inquiry")
    poll()
    link = IncidentLink.objects.select_related("ticket").get(sys_id=sys_id)
    snow.requests.clear()
    return sys_id, link.ticket


def _group(snow, name="Network"):
    return next(g for g, row in snow.tables["sys_user_group"].items() if row["name"] == name)


def _patches(snow):
    return [r for r in snow.requests if r.method == "PATCH"]


def _actions(prefix="servicenow."):
    return list(AuditEvent.objects.filter(action__startswith=prefix).order_by("seq").values_list("action", flat=True))


def test_a_write_back_is_checked_sent_with_its_key_and_recorded_with_the_prior_values(snow, imported, agent_user):
    sys_id, ticket = imported
    network = _group(snow)
    group_before = snow.get(sys_id)["assignment_group"]
    row = writeback_request(actor=agent_user, ticket=ticket,
                            changes={"assignment_group": network, "priority": "2", "work_notes": "Routed by Warden"})
    assert row.status == "sent", row.detail
    [patch] = _patches(snow)
    assert patch.headers["Idempotency-Key"] == row.idempotency_key
    assert f"ticket-{ticket.pk}" in row.idempotency_key
    assert row.idempotency_key.endswith(":v0")
    record = snow.get(sys_id)
    assert (record["assignment_group"], record["priority"], record["sys_mod_count"]) == (network, "2", "1")
    assert snow.journal(sys_id)[-1]["value"] == "Routed by Warden"
    assert row.prior_values == {"assignment_group": group_before, "priority": "3"}  # no prior value for a journal
    assert group_before != network
    assert (row.expected_mod_count, row.found_mod_count, row.result_mod_count) == (0, 0, 1)
    assert row.approved_by_label == agent_user.email  # asked from the desk: the person approves their request
    assert IncidentLink.objects.get(sys_id=sys_id).sys_mod_count == 1  # the next write is decided on v1
    event = AuditEvent.objects.get(action="servicenow.writeback_sent")
    assert event.target_id == str(ticket.pk)
    assert event.actor_id == agent_user.pk
    assert DecisionLog.objects.filter(action="connector.write", allowed=True).exists()


def test_a_record_changed_in_servicenow_is_a_conflict_not_an_overwrite(snow, imported, agent_user):
    sys_id, ticket = imported
    snow.change(sys_id, priority="1")  # someone in ServiceNow, after the import
    row = writeback_request(actor=agent_user, ticket=ticket, changes={"priority": "4"})
    assert row.status == "conflict"
    assert "sys_mod_count 1" in row.detail
    assert _patches(snow) == []
    assert snow.get(sys_id)["priority"] == "1"
    assert (row.expected_mod_count, row.found_mod_count) == (0, 1)
    assert _actions() == ["servicenow.writeback_conflict"]
    # Asked again for the same version: still the recorded conflict, nothing sent.
    assert writeback_request(actor=agent_user, ticket=ticket, changes={"priority": "4"}).pk == row.pk
    assert _patches(snow) == []


def test_a_policy_denial_sends_nothing_and_is_audited(snow, imported, requester_user):
    sys_id, ticket = imported
    row = writeback_request(actor=requester_user, ticket=ticket, changes={"priority": "1"})
    assert row.status == "denied"
    assert snow.requests == []  # not even the read
    assert "policy.denied" in _actions("policy.")
    assert _actions() == ["servicenow.writeback_denied"]
    assert DecisionLog.objects.filter(action="connector.write", allowed=False).exists()


def test_a_failing_decision_denies(snow, imported, agent_user, monkeypatch):
    from apps.policies import selectors

    def broken():
        raise RuntimeError("rules unreadable")

    monkeypatch.setattr(selectors, "policy_in_force", broken)
    sys_id, ticket = imported
    row = writeback_request(actor=agent_user, ticket=ticket, changes={"priority": "1"})
    assert row.status == "denied"
    assert "evaluation error" in row.detail
    assert snow.requests == []


def test_the_system_needs_a_named_approver(snow, imported):
    sys_id, ticket = imported
    row = writeback_request(actor=None, ticket=ticket, changes={"category": "network"})
    assert row.status == "denied"
    assert "approval" in row.detail
    assert snow.requests == []
    approved = writeback_request(actor=None, ticket=ticket, changes={"category": "network"},
                                 approved_by="agent@alpha.test")
    assert approved.pk == row.pk
    assert approved.status == "sent"
    assert approved.approved_by_label == "agent@alpha.test"


def test_the_daily_write_cap(snow, imported, agent_user):
    from apps.accounts.models import User
    from apps.connectors.services.connectors import connector_update

    sys_id, ticket = imported
    connector_update(actor=User.objects.get(email="admin@alpha.test"), connector=IncidentLink.objects.get().connector,
                     daily_write_cap=1)
    first = writeback_request(actor=agent_user, ticket=ticket, changes={"urgency": "1"})
    assert first.status == "sent"
    second = writeback_request(actor=agent_user, ticket=ticket, changes={"urgency": "3"})
    assert second.status == "capped"
    assert "cap (1)" in second.detail
    assert len(_patches(snow)) == 1
    assert "servicenow.writeback_capped" in _actions()


def test_an_idempotent_retry_sends_once(snow, imported, agent_user):
    sys_id, ticket = imported
    first = writeback_request(actor=agent_user, ticket=ticket, changes={"work_notes": "Looking into it"}, version=0)
    again = writeback_request(actor=agent_user, ticket=ticket, changes={"work_notes": "Looking into it"}, version=0)
    assert first.pk == again.pk
    assert again.status == "sent"
    assert len(_patches(snow)) == 1
    assert len(snow.journal(sys_id)) == 1
    assert WriteBack.objects.count() == 1


def test_a_failed_write_is_retried_with_the_same_key_and_sent_once(snow, imported, agent_user, settings):
    settings.WARDEN_CONNECTORS_MAX_ATTEMPTS = 2
    sys_id, ticket = imported
    snow.fail_next(Fault(0), Fault(503), Fault(503))  # the read goes through, both PATCH attempts fail
    failed = writeback_request(actor=agent_user, ticket=ticket, changes={"impact": "1"}, sleep=lambda s: None)
    assert failed.status == "failed"
    assert snow.get(sys_id)["impact"] == "2"
    breaker.reset(failed.connector_id)
    sent = writeback_request(actor=agent_user, ticket=ticket, changes={"impact": "1"})
    assert sent.pk == failed.pk
    assert sent.status == "sent"
    assert {p.headers["Idempotency-Key"] for p in _patches(snow)} == {failed.idempotency_key}
    assert snow.get(sys_id)["sys_mod_count"] == "1"  # applied once


def test_a_write_that_landed_before_a_crash_is_not_sent_again(snow, imported, agent_user):
    sys_id, ticket = imported
    row = writeback_request(actor=agent_user, ticket=ticket, changes={"urgency": "1"})
    # Pretend the worker died after the PATCH, before recording it.
    WriteBack.objects.filter(pk=row.pk).update(status="pending", updated_at=row.updated_at - timedelta(hours=1),
                                               result_mod_count=None, sent_at=None)
    IncidentLink.objects.filter(sys_id=sys_id).update(sys_mod_count=0)
    again = writeback_request(actor=agent_user, ticket=ticket, changes={"urgency": "1"})
    assert again.status == "sent"
    assert "earlier attempt" in again.detail
    assert len(_patches(snow)) == 1


def test_dry_run_records_what_would_be_written_without_sending(snow, imported, agent_user):
    from apps.accounts.models import User
    from apps.connectors.services.connectors import connector_update

    sys_id, ticket = imported
    connector_update(actor=User.objects.get(email="admin@alpha.test"), connector=IncidentLink.objects.get().connector,
                     dry_run=True)
    row = writeback_request(actor=agent_user, ticket=ticket, changes={"priority": "1", "work_notes": "would say"})
    assert row.status == "dry_run"
    assert row.dry_run
    assert row.prior_values == {"priority": "3"}
    assert row.new_values == {"priority": "1", "work_notes": "would say"}
    assert _patches(snow) == []
    assert snow.get(sys_id)["priority"] == "3"
    assert snow.journal(sys_id) == []
    assert _actions() == ["servicenow.writeback_dry_run"]


def test_bad_changes_are_refused_before_anything(snow, imported, agent_user):
    sys_id, ticket = imported
    with pytest.raises(ApplicationError) as refused:
        writeback_request(actor=agent_user, ticket=ticket, changes={"short_description": "x"})
    assert "cannot be written back" in refused.value.message
    with pytest.raises(ApplicationError):
        writeback_request(actor=agent_user, ticket=ticket, changes={"priority": "9"})
    assert snow.requests == []
    assert WriteBack.objects.count() == 0


def test_undo_restores_the_prior_values_and_compensates_a_work_note(snow, imported, agent_user):
    sys_id, ticket = imported
    network = _group(snow)
    before = snow.get(sys_id)
    row = writeback_request(actor=agent_user, ticket=ticket,
                            changes={"assignment_group": network, "urgency": "1", "work_notes": "Escalating"})
    undo = writeback_undo(actor=agent_user, writeback=row, reason="wrong queue")
    assert undo.status == "sent", undo.detail
    assert undo.kind == "undo"
    assert undo.undo_of_id == row.pk
    record = snow.get(sys_id)
    assert (record["assignment_group"], record["urgency"]) == (before["assignment_group"], before["urgency"])
    notes = [entry["value"] for entry in snow.journal(sys_id)]
    assert notes[0] == "Escalating"
    assert f"Write-back #{row.pk}" in notes[1]
    assert "disregard its work note" in notes[1]
    assert "wrong queue" in notes[1]
    row.refresh_from_db()
    assert row.status == "undone"
    assert row.undone_at is not None
    assert _actions() == ["servicenow.writeback_sent", "servicenow.undo_sent"]
    # Undoing again returns the same undo; nothing is sent.
    patches = len(_patches(snow))
    assert writeback_undo(actor=agent_user, writeback=row, reason="again").pk == undo.pk
    assert len(_patches(snow)) == patches


def test_undo_never_overwrites_a_later_change(snow, imported, agent_user):
    sys_id, ticket = imported
    row = writeback_request(actor=agent_user, ticket=ticket, changes={"priority": "1"})
    snow.change(sys_id, priority="2")  # someone changed it again in ServiceNow
    undo = writeback_undo(actor=agent_user, writeback=row, reason="oops")
    assert undo.status == "conflict"
    assert "priority" in undo.detail
    assert snow.get(sys_id)["priority"] == "2"
    assert len(_patches(snow)) == 1
    row.refresh_from_db()
    assert row.status == "sent"


def test_undo_has_a_window_and_needs_a_reason(snow, imported, agent_user, settings):
    sys_id, ticket = imported
    row = writeback_request(actor=agent_user, ticket=ticket, changes={"priority": "1"})
    with pytest.raises(ApplicationError):
        writeback_undo(actor=agent_user, writeback=row, reason=" ")
    WriteBack.objects.filter(pk=row.pk).update(sent_at=row.sent_at - timedelta(hours=25))
    with pytest.raises(Conflict) as late:
        writeback_undo(actor=agent_user, writeback=row, reason="too late")
    assert "no longer be undone" in late.value.message
    assert len(_patches(snow)) == 1


def test_undo_is_governed_too(snow, imported, agent_user, requester_user):
    sys_id, ticket = imported
    row = writeback_request(actor=agent_user, ticket=ticket, changes={"priority": "1"})
    denied = writeback_undo(actor=requester_user, writeback=row, reason="not mine to undo")
    assert denied.status == "denied"
    assert snow.get(sys_id)["priority"] == "1"
