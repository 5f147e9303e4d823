"""Celery tasks of the policies app: thin wrappers over services.

`policies.housekeeping` runs in one tenant; beat fans it out to every tenant through
`tenants.dispatch` (registered in PoliciesConfig.ready()).
"""

from __future__ import annotations

from apps.core.tasks import tenant_task

from .services import policy_housekeeping


@tenant_task(name="policies.housekeeping")
def policy_housekeeping_task() -> dict[str, int]:
    """Drop decisions past retention and cap buckets no window needs any more."""
    return policy_housekeeping()
