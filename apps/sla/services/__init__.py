"""Every write of the SLA app, one module per concern:

* `clocks`: clocks follow their tickets (`sla_sync` and the hooks the in-transaction
  handler calls), bulk re-targeting and the bulk importer;
* `sweep`: warnings and breaches, emitted once into the outbox;
* `escalations`: what the `sla.escalations` subscriber does for them (audit, steps);
  who is told is the notifications app's business;
* `configuration`: calendars and policies (policy-checked, validated, audited);
* `defaults`: the calendars and policies every new tenant starts with.

The clock arithmetic itself is pure and lives in `apps/sla/clockmath.py`.
"""

from .clocks import (
    RETARGET_FIELDS,
    sla_attach_many,
    sla_clocks_recompute,
    sla_on_first_response,
    sla_on_status_changed,
    sla_on_ticket_changed,
    sla_on_ticket_created,
    sla_on_tickets_changed,
    sla_sync,
    sla_tickets_resync,
)
from .configuration import (
    policy_input_from_data,
    sla_calendar_save,
    sla_policy_delete,
    sla_policy_problems,
    sla_policy_save,
)
from .defaults import sla_defaults_install
from .escalations import sla_clock_events_process, sla_escalate, sla_events_process
from .sweep import SweepResult, sla_sweep

__all__ = [
    "RETARGET_FIELDS",
    "SweepResult",
    "policy_input_from_data",
    "sla_attach_many",
    "sla_calendar_save",
    "sla_clock_events_process",
    "sla_clocks_recompute",
    "sla_defaults_install",
    "sla_escalate",
    "sla_events_process",
    "sla_on_first_response",
    "sla_on_status_changed",
    "sla_on_ticket_changed",
    "sla_on_ticket_created",
    "sla_on_tickets_changed",
    "sla_policy_delete",
    "sla_policy_problems",
    "sla_policy_save",
    "sla_sweep",
    "sla_sync",
    "sla_tickets_resync",
]
