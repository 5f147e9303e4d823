"""Approvals in Slack: the card of a proposal, and the clicks on it.

* `card_post(proposal_id)`: a waiting proposal's card goes to the Slack channel of the
  ticket's team (notifications' `TeamChannel`), else to the workspace's approvals channel;
  nowhere when neither is set, Slack is not connected, or neither a signing secret nor an
  app-level token is set (nothing would receive the clicks). Once per proposal (`SlackCard`).
* `card_refresh(proposal_id)`: the card shows the proposal as it is now (`chat.update`):
  decided (by whom, through which channel), written back, superseded.
  Both run as outbox subscribers (after commit, retried); Slack's 429 waits for its
  `Retry-After`, a revoked token dead-letters at once, anything else is retried.
* `interaction_receive(key, source, payload)`: a click, from the HTTP hook or Socket
  Mode, kept once per `key` (`SlackInteraction`); the Slack user is mapped to an active
  Warden user of this tenant by email (`users.info`), and `proposal_decide(channel=slack)`
  decides: it asks the policy again, refuses stale versions and all but the first
  decision. A refusal is told to the clicking user only (`chat.postEphemeral`) with the
  service's message, and audited (`triage.slack_refused`).

Tokens are decrypted for the call only and never logged.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from apps.accounts.models import Team, User
from apps.audit.services import audit_record, tenant_is_metadata_only
from apps.core import secrets
from apps.core.errors import ApplicationError
from apps.events.consumers import Abandon, Deferred
from apps.notifications.channels.slack import REVOKED
from apps.notifications.channels.slack import client as slack_client
from apps.notifications.models import SlackWorkspace, TeamChannel
from apps.policies.decisions import PolicyDenied
from apps.tickets.choices import Level
from apps.tickets.models import Category

from ..choices import Channel, Classifier, ProposalStatus
from ..models import Proposal
from ..models_slack import SlackCard, SlackInteraction, SlackInteractionOutcome
from ..services import proposal_decide
from ..services.proposals import Stale
from . import cards

logger = logging.getLogger(__name__)

INTERACTION_TIMEOUT = 2  # seconds per Slack call while Slack waits for our answer (3 s)
USER_CACHE_SECONDS = 3600
DESK_TRIAGE_PATH = "/desk/triage/"
REJECT_REASON = "Rejected in Slack"


# --- Slack, connected -----------------------------------------------------------------------


def workspace_get() -> SlackWorkspace | None:
    return SlackWorkspace.objects.filter(pk=1, enabled=True).first()


def _api(workspace: SlackWorkspace, *, timeout: float | None = None) -> WebClient:
    try:
        token = secrets.decrypt(workspace.bot_token)
    except secrets.SecretUnreadable:
        raise Abandon("the Slack bot token cannot be decrypted with the configured keys") from None
    api = slack_client(token)
    if timeout is not None:
        api.timeout = timeout
    return api


def _error(exc: SlackApiError) -> str:
    return (exc.response.get("error") if exc.response is not None else "") or ""


def _raise_for_subscriber(exc: SlackApiError):
    """A Slack refusal as the outbox understands it."""
    response = exc.response
    if getattr(response, "status_code", None) == 429:
        headers = {key.lower(): value for key, value in (response.headers or {}).items()}
        wait = float(headers.get("retry-after") or 30)
        raise Deferred(f"Slack rate limit: retry after {wait:.0f} s", seconds=wait) from None
    if _error(exc) in REVOKED:
        raise Abandon(f"Slack refused the token ({_error(exc)})") from None
    raise RuntimeError(f"Slack answered {getattr(response, 'status_code', None)} {_error(exc) or 'no error code'}") from None


# --- The card ---------------------------------------------------------------------------------


def _level(value) -> str:
    try:
        return str(Level(int(value)).label)
    except (TypeError, ValueError):
        return "-"


def card_render(proposal: Proposal) -> tuple[list[dict], str, str]:
    """(blocks, text, state) of the proposal's card as it is now."""
    full = not tenant_is_metadata_only()
    ticket = proposal.ticket
    ids = {name: {proposal.before.get(name), proposal.changes.get(name)} - {None} for name in ("category", "team")}
    categories = dict(Category.objects.filter(pk__in=ids["category"]).values_list("pk", "name"))
    teams = dict(Team.objects.filter(pk__in=ids["team"]).values_list("pk", "name"))
    labels = {"category": _("Category"), "team": _("Team"), "impact": _("Impact"), "urgency": _("Urgency"),
              "work_note": _("Work note")}
    # Rule text is the tenant's own; a language model's may quote the ticket.
    content_ok = full or proposal.classifier == Classifier.RULES

    def shown(name: str, value) -> str:
        if value in (None, ""):
            return "-"
        if name == "category":
            return categories.get(value, f"#{value}")
        if name == "team":
            return teams.get(value, f"#{value}")
        if name in ("impact", "urgency"):
            return _level(value)
        return str(value)[:300] if content_ok else _("an internal note")

    changes = [cards.Change(label=str(labels.get(name, name)), current=shown(name, proposal.before.get(name)),
                            proposed=shown(name, value)) for name, value in proposal.changes.items()]
    classifier = str(Classifier(proposal.classifier).label) if proposal.classifier in Classifier.values else ""
    if proposal.rule_name:
        classifier += f" ({proposal.rule_name})"
    elif proposal.model:
        classifier += f" ({proposal.model})"
    state, outcome = _outcome(proposal, full=full)
    card = cards.Card(
        proposal_id=proposal.pk, version=proposal.version, ticket_number=ticket.number,
        title=ticket.title if full else "", changes=changes, classifier=classifier,
        confidence=str(proposal.confidence), rationale=proposal.rationale if content_ok else "",
        edit_url=connection.tenant.url(DESK_TRIAGE_PATH), state=state, outcome=outcome)
    blocks, text = cards.blocks(card)
    return blocks, text, state


def _outcome(proposal: Proposal, *, full: bool) -> tuple[str, list[str]]:
    if proposal.status == ProposalStatus.PENDING:
        return "pending", []
    decision = getattr(proposal, "decision", None) if proposal.status in (
        ProposalStatus.APPLIED, ProposalStatus.REJECTED, ProposalStatus.FAILED) else None
    lines: list[str] = []
    if decision is not None:
        who = (decision.decided_by.full_name if decision.decided_by and decision.decided_by.full_name
               else decision.decided_by_label)
        verb = _("Approved") if decision.verdict == "approve" else _("Rejected")
        lines.append(_("%(verb)s by %(who)s (%(channel)s)") % {
            "verb": verb, "who": who, "channel": Channel(decision.channel).label})
        if decision.reason and full and decision.reason != REJECT_REASON:
            lines.append(_("Reason: %(reason)s") % {"reason": decision.reason[:300]})
        if proposal.status == ProposalStatus.FAILED:
            lines.append(_("Not applied: %(why)s") % {"why": proposal.status_reason[:300]})
        if proposal.writeback_status:
            lines.append(_("Write-back: %(status)s") % {"status": proposal.writeback_status})
        return "decided", lines
    lines.append(str(proposal.get_status_display()))
    if proposal.status_reason and proposal.status != ProposalStatus.REJECTED:
        lines.append(proposal.status_reason[:300])
    return "closed", lines


def _proposal(proposal_id: int) -> Proposal | None:
    return (Proposal.objects.select_related("ticket", "decision", "decision__decided_by")
            .filter(pk=proposal_id).first())


def card_channel(proposal: Proposal, workspace: SlackWorkspace) -> str:
    """The ticket's team's Slack channel, else the workspace's approvals channel, else ""."""
    team_id = proposal.ticket.team_id
    if team_id is not None:
        channel = TeamChannel.objects.filter(team_id=team_id).exclude(channel="").values_list(
            "channel", flat=True).first()
        if channel:
            return channel
    return workspace.approvals_channel or ""


def card_post(*, proposal_id: int) -> SlackCard | None:
    """Post the card of a waiting proposal (once). None when there is nothing to post."""
    if SlackCard.objects.filter(proposal_id=proposal_id).exists():
        return None  # a redelivery: posted already
    proposal = _proposal(proposal_id)
    if proposal is None or proposal.status != ProposalStatus.PENDING:
        return None  # approved automatically, superseded... before we got here
    workspace = workspace_get()
    if workspace is None or not (workspace.signing_secret or workspace.app_token):
        return None  # Slack connected for notifications only: nothing could receive the clicks
    channel = card_channel(proposal, workspace)
    if not channel:
        return None
    blocks, text, state = card_render(proposal)
    try:
        answer = _api(workspace).chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
    except SlackApiError as exc:
        _raise_for_subscriber(exc)
    now = timezone.now()
    return SlackCard.objects.create(proposal=proposal, channel=str(answer.get("channel") or channel),
                                    ts=str(answer["ts"]), version=proposal.version, state=state,
                                    posted_at=now, updated_at=now)


def card_refresh(*, proposal_id: int, timeout: float | None = None) -> bool:
    """Show the proposal as it is now on its card (`chat.update`). False: no card."""
    workspace = workspace_get()
    card = SlackCard.objects.filter(proposal_id=proposal_id).first()
    proposal = _proposal(proposal_id)
    if workspace is None or card is None or proposal is None:
        return False
    blocks, text, state = card_render(proposal)
    try:
        _api(workspace, timeout=timeout).chat_update(channel=card.channel, ts=card.ts, text=text, blocks=blocks)
    except SlackApiError as exc:
        _raise_for_subscriber(exc)
    SlackCard.objects.filter(pk=card.pk).update(version=proposal.version, state=state, updated_at=timezone.now())
    return True


# --- A click ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InteractionResult:
    outcome: str  # duplicate, ignored, applied, refused, unmapped
    message: str = ""


def interaction_key_http(body: bytes) -> str:
    return "http:" + hashlib.sha256(body).hexdigest()


def interaction_key_socket(envelope_id: str) -> str:
    return "socket:" + (envelope_id or "")[:72]


def interaction_receive(*, key: str, source: str, payload: dict) -> InteractionResult:
    """Handle one verified interaction payload, once per `key`. Must not run inside a
    transaction: `proposal_decide` writes a policy denial after its own rollback."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return InteractionResult("ignored")  # shortcuts, view submissions: not ours (yet)
    actions = payload.get("actions") or []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    verdict = cards.ACTIONS.get(action.get("action_id") or "")
    target = cards.parse_value(str(action.get("value") or ""))
    if verdict is None or target is None:
        return InteractionResult("ignored")  # the Edit link button, someone else's buttons
    proposal_id, version = target
    slack_user = str((payload.get("user") or {}).get("id") or "")[:32]
    channel_id = str((payload.get("channel") or {}).get("id") or "")[:40]
    try:
        with transaction.atomic():
            row, created = SlackInteraction.objects.get_or_create(key=key[:80], defaults={
                "source": source, "slack_user": slack_user, "proposal_id": proposal_id, "action": verdict})
    except IntegrityError:  # the same key at the same moment: the other one handles it
        return InteractionResult("duplicate")
    if not created:
        return InteractionResult("duplicate")
    workspace = workspace_get()
    if workspace is None:
        return _finish(row, SlackInteractionOutcome.IGNORED, "Slack is not connected", None, None)
    api = _api_or_none(workspace)
    user = _warden_user(api, slack_user, workspace) if api is not None else None
    if user is None:
        message = _("Your Slack account is not linked to an active Warden user of this organisation (by email); "
                    "nothing was decided.")
        _refused(row, SlackInteractionOutcome.UNMAPPED, message, None, "unmapped")
        _tell(api, channel_id, slack_user, message)
        return InteractionResult("unmapped", message)
    try:
        proposal_decide(actor=user, proposal_id=proposal_id, verdict=verdict, version=version,
                        reason=REJECT_REASON if verdict == "reject" else "", channel=Channel.SLACK)
    except ApplicationError as exc:
        why = "policy" if isinstance(exc, PolicyDenied) else "stale" if isinstance(exc, Stale) else type(exc).__name__.lower()
        message = _("Not recorded: %(why)s") % {"why": exc.message}
        _refused(row, SlackInteractionOutcome.REFUSED, message, user, why)
        _tell(api, channel_id, slack_user, message)
        if isinstance(exc, Stale):
            _refresh_quietly(proposal_id)  # the card says it no longer waits, and why
        return InteractionResult("refused", message)
    # The card is updated by the `triage.slack_cards` subscriber of triage.proposal.decided.
    return _finish(row, SlackInteractionOutcome.APPLIED, verdict, user, None)


def _api_or_none(workspace: SlackWorkspace) -> WebClient | None:
    try:
        return _api(workspace, timeout=INTERACTION_TIMEOUT)
    except Abandon:
        logger.error("slack approvals: the bot token cannot be decrypted; clicks are refused")
        return None


def _warden_user(api: WebClient, slack_user: str, workspace: SlackWorkspace) -> User | None:
    """The active Warden user of this tenant whose email is the Slack user's, or None.
    The Slack user's email is remembered for an hour (users.info is rate limited);
    connecting again (a new token, perhaps another workspace) starts afresh."""
    if not slack_user:
        return None
    connected = hashlib.sha256(workspace.bot_token.encode()).hexdigest()[:16]
    key = (f"triage:slack-email:{connection.schema_name}:{connected}:"
           f"{hashlib.sha256(slack_user.encode()).hexdigest()[:24]}")
    email = cache.get(key)
    if email is None:
        try:
            answer = api.users_info(user=slack_user)
        except SlackApiError as exc:
            logger.info("slack approvals: users.info refused (%s)", _error(exc))
            return None
        except OSError as exc:
            logger.warning("slack approvals: users.info failed (%s)", type(exc).__name__)
            return None
        person = answer.get("user") or {}
        if person.get("deleted") or person.get("is_bot"):
            return None
        email = str((person.get("profile") or {}).get("email") or "").strip().lower()
        if email:
            cache.set(key, email, timeout=USER_CACHE_SECONDS)
    if not email:
        return None
    return User.objects.filter(email__iexact=email, is_active=True).first()


def _finish(row: SlackInteraction, outcome: str, detail: str, user, why: str | None) -> InteractionResult:
    SlackInteraction.objects.filter(pk=row.pk).update(outcome=outcome, detail=str(detail)[:300],
                                                      user=user if user is not None else None)
    return InteractionResult(outcome, "" if outcome == SlackInteractionOutcome.APPLIED else str(detail))


def _refused(row: SlackInteraction, outcome: str, message: str, user, why: str) -> None:
    with transaction.atomic():
        _finish(row, outcome, message, user, why)
        proposal = Proposal.objects.filter(pk=row.proposal_id).select_related("ticket").first()
        audit_record(actor=user, actor_label=None if user is not None else f"slack:{row.slack_user}",
                     action="triage.slack_refused", target=proposal.ticket if proposal else None,
                     payload={"proposal_id": row.proposal_id, "slack_user": row.slack_user, "source": row.source,
                              "action": row.action, "why": why, "message": str(message)[:300]})


def _tell(api: WebClient | None, channel_id: str, slack_user: str, message: str) -> None:
    """Say why to the clicking user only; best effort (the refusal is recorded)."""
    if api is None or not channel_id or not slack_user:
        return
    try:
        api.chat_postEphemeral(channel=channel_id, user=slack_user, text=message)
    except (SlackApiError, OSError) as exc:
        logger.info("slack approvals: could not tell the user why (%s)", type(exc).__name__)


def _refresh_quietly(proposal_id: int) -> None:
    try:
        card_refresh(proposal_id=proposal_id, timeout=INTERACTION_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - the next decision event refreshes it anyway
        logger.info("slack approvals: card %s not refreshed (%s)", proposal_id, type(exc).__name__)
