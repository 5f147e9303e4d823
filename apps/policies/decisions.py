"""What `decide()` returns and what `policy_require()` raises."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.errors import PermissionDenied

from . import engine
from .engine import Obligation

ENFORCE = "enforce"
DRY_RUN = "dry_run"


@dataclass(frozen=True)
class Decision:
    """The answer of the policy decision point.

    `allowed` is what the caller must obey. In dry-run mode it is always True and
    `would_allow` carries the rules' real verdict (both are logged). `obligations` apply
    only when `allowed`: a caller must honour `requires_approval`; caps were already
    consumed by `decide()`.
    """

    allowed: bool
    reasons: tuple[str, ...]
    obligations: tuple[Obligation, ...]
    rule_version: int | None
    mode: str
    would_allow: bool

    @property
    def requires_approval(self) -> bool:
        return any(o.kind == engine.REQUIRE_APPROVAL for o in self.obligations)

    @property
    def caps(self) -> tuple[Obligation, ...]:
        return tuple(o for o in self.obligations if o.kind == engine.CAP)

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "would_allow": self.would_allow,
            "reasons": list(self.reasons),
            "obligations": [o.as_dict() for o in self.obligations],
            "rule_version": self.rule_version,
            "mode": self.mode,
        }


_DENIED_BY_RULE = re.compile(r"^denied by rule (?P<name>.+)$")


def _reason_text(reason: str) -> str:
    """The engine's reason (English, as logged) in the active language where it is one of
    the engine's own sentences; a rule's own words are the tenant's and stay as they are."""
    if reason == engine.NO_RULE_ALLOWS:
        return _("no rule allows")
    match = _DENIED_BY_RULE.match(reason)
    if match:
        return _("denied by rule %(name)s") % {"name": match.group("name")}
    return reason


class PolicyDenied(PermissionDenied):
    """403: the policies do not allow `action` (enforce mode only).

    `record` keeps what was written to the decision log and the audit chain, so an
    edge that sees this exception after the caller's transaction rolled back can write
    it again (`services.policy_denial_persist`).
    """

    title = gettext_lazy("Forbidden by policy")

    def __init__(self, decision: Decision, action: str, *, record: dict[str, Any] | None = None):
        reasons = "; ".join(_reason_text(r) for r in decision.reasons) or _reason_text(engine.NO_RULE_ALLOWS)
        super().__init__(_("Not allowed to %(action)s: %(reasons)s.") % {"action": action, "reasons": reasons})
        self.decision = decision
        self.action = action
        self.record: dict[str, Any] = record or {}
