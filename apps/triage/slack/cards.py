"""The Block Kit card of a proposal. Pure: the caller (services.card_render) gathers what
it shows into a `Card`.

A metadata-only tenant's card names the ticket by its number only (no title, no language
model's rationale, no work-note text: they may quote the ticket), as notifications'
Slack messages do."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

APPROVE = "triage_approve"
REJECT = "triage_reject"
EDIT = "triage_edit"
ACTIONS = {APPROVE: "approve", REJECT: "reject"}
RATIONALE_CHARS = 600


@dataclass(frozen=True)
class Change:
    label: str  # the field's name, translated
    current: str
    proposed: str


@dataclass(frozen=True)
class Card:
    proposal_id: int
    version: int
    ticket_number: int
    title: str  # "" in metadata-only tenants
    changes: list[Change]
    classifier: str  # "Rules (Printers to Ops)", "Language model (provider:model)"
    confidence: str
    rationale: str  # "" when it may not be shown
    edit_url: str
    state: str = "pending"  # pending, decided, closed (superseded, failed, refused...)
    outcome: list[str] = field(default_factory=list)  # lines saying who decided, how, the write-back


def button_value(proposal_id: int, version: int) -> str:
    return f"{proposal_id}:{version}"


def parse_value(value: str) -> tuple[int, int] | None:
    """(proposal id, version) from a button's value, or None when it is not ours."""
    head, _sep, tail = (value or "").partition(":")
    if not (head.isdigit() and tail.isdigit()) or len(value) > 40:
        return None
    return int(head), int(tail)


def escape(text: str) -> str:
    """Slack's three control characters (mrkdwn)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(card: Card) -> tuple[list[dict], str]:
    """The card's blocks and its fallback text (notifications, screen readers)."""
    headline = _("Triage proposal for ticket #%(number)s") % {"number": card.ticket_number}
    heading = f"*{escape(headline)}*"
    if card.title:
        heading += "\n" + escape(card.title[:300])
    out: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": heading}}]
    lines = [f"*{escape(c.label)}*: {escape(c.current)} → {escape(c.proposed)}" for c in card.changes]
    if lines:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}})
    facts = _("%(classifier)s · confidence %(confidence)s · version %(version)s") % {
        "classifier": card.classifier, "confidence": card.confidence, "version": card.version}
    out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(facts)[:2900]}]})
    if card.rationale:
        rationale = card.rationale if len(card.rationale) <= RATIONALE_CHARS else card.rationale[:RATIONALE_CHARS - 1] + "…"
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": ">" + escape(rationale).replace("\n", "\n>")}})
    if card.state == "pending":
        value = button_value(card.proposal_id, card.version)
        out.append({"type": "actions", "block_id": f"triage:{card.proposal_id}", "elements": [
            {"type": "button", "action_id": APPROVE, "style": "primary", "value": value,
             "text": {"type": "plain_text", "text": _("Approve")}},
            {"type": "button", "action_id": EDIT, "url": card.edit_url,
             "text": {"type": "plain_text", "text": _("Edit")}},
            {"type": "button", "action_id": REJECT, "style": "danger", "value": value,
             "text": {"type": "plain_text", "text": _("Reject")}},
        ]})
    if card.outcome:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": escape("\n".join(card.outcome))[:2900]}})
    if card.state != "pending":
        out.append({"type": "actions", "elements": [
            {"type": "button", "action_id": EDIT, "url": card.edit_url,
             "text": {"type": "plain_text", "text": _("Open the triage queue")}},
        ]})
    text = headline if not card.outcome else f"{headline}: {card.outcome[0]}"
    return out, text
