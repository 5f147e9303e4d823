"""Every write of the triage app: proposals and their decisions, rules, settings."""

from .proposals import (
    AUTO_LABEL,
    TRIAGE_CONFIGURE,
    TRIAGE_DECIDE,
    BulkOutcome,
    proposal_approve_many,
    proposal_decide,
    proposal_edit,
    proposal_make,
)
from .rules import RuleTest, rule_delete, rule_dry_run, rule_save, rule_test, settings_update
from .writeback import proposal_write_back

__all__ = [
    "AUTO_LABEL", "TRIAGE_CONFIGURE", "TRIAGE_DECIDE", "BulkOutcome", "RuleTest", "proposal_approve_many",
    "proposal_decide", "proposal_edit", "proposal_make", "proposal_write_back", "rule_delete", "rule_dry_run",
    "rule_save", "rule_test", "settings_update",
]
