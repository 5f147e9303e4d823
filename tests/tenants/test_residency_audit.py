"""residency_report reads the tenant's audit chain (its refusals): the run is recorded there."""

from __future__ import annotations

import io
import json

from django.core.management import call_command
from django.db import connection

from apps.audit.models import AuditEvent
from apps.tenants.residency import audit_refusal


def test_the_report_counts_refusals_and_is_itself_audited(tenant):
    audit_refusal(kind="request", detail="/api/v1/tickets/")
    out = io.StringIO()
    call_command("residency_report", "--tenant", "alpha", stdout=out)
    report = json.loads(out.getvalue())
    assert report["evidence"]["refusals_recorded"] == 1
    assert report["evidence"]["last_refusal_at"] is not None
    assert connection.schema_name == tenant.schema_name  # the caller's tenant is back
    [event] = AuditEvent.objects.filter(action="residency.reported")
    assert event.actor_id is None
    assert event.actor_label.startswith("operator:")
    assert event.payload_data == {"deployment_region": "eu", "may_serve": True, "refusals_recorded": 1}


def test_a_second_report_sees_the_same_refusals_and_records_another_run(tenant):
    call_command("residency_report", "--tenant", "alpha", stdout=io.StringIO())
    call_command("residency_report", "--tenant", "alpha", stdout=io.StringIO())
    assert AuditEvent.objects.filter(action="residency.reported").count() == 2
    assert AuditEvent.objects.filter(action="residency.refused").count() == 0
