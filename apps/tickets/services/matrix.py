"""The tenant's priority matrix (impact x urgency)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.translation import gettext

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.policies.services import policy_require

from ..actions import PRIORITY_MATRIX_CHANGE
from ..models import PriorityMatrix
from ..priority import MatrixInvalid, validate_matrix
from ..selectors import priority_matrix_get

logger = logging.getLogger(__name__)

# --- Priority matrix --------------------------------------------------------------------


@transaction.atomic
def priority_matrix_set(*, actor, matrix: dict) -> dict:
    """Replace the tenant's matrix. Existing tickets keep their priority until their
    impact or urgency changes."""
    policy_require(actor, PRIORITY_MATRIX_CHANGE, None, {})
    try:
        clean = validate_matrix(matrix)
    except MatrixInvalid as exc:
        raise ApplicationError(gettext("The matrix is not valid: %(problems)s") % {"problems": exc}, errors=exc.errors) from exc
    previous = priority_matrix_get()
    row, _ = PriorityMatrix.objects.select_for_update().get_or_create(singleton=True, defaults={"matrix": clean})
    row.matrix = clean
    row.save(update_fields=["matrix", "updated_at"])
    audit_record(actor=actor, action="priority_matrix.changed", target=row, payload={"from": previous, "to": clean})
    return clean
