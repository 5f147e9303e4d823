"""Every write of the ServiceNow kind, by aggregate:

* poll.py: the incremental poll (incidents -> tickets, the watermark), the filter;
* writeback.py: governed writes to an incident (policy, approval, cap, idempotency,
  conflict check, dry run, audit);
* undo.py: reverting a write-back within the undo window.
"""

from .poll import PollRefused, PollResult, servicenow_filter_set, servicenow_poll, servicenow_sync_now
from .undo import writeback_undo
from .writeback import writeback_request

__all__ = ["PollRefused", "PollResult", "servicenow_filter_set", "servicenow_poll", "servicenow_sync_now",
           "writeback_request", "writeback_undo"]
