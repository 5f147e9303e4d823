"""Slack: the `notifications.slack` subscriber sends a person's due message with the
official `slack-sdk` WebClient (base URL from WARDEN_SLACK_API_URL, so tests point it at a
fake Slack on 127.0.0.1).

* A person gets a direct message: found by email (`users.lookupByEmail`); someone Slack
  does not know is skipped, not retried.
* A new ticket for a team whose Slack channel is set goes to that channel once, instead
  of to each member.
* Slack says 429: the delivery waits as long as `Retry-After` says (no attempt used).
* A revoked or invalid token (or one no key decrypts any more) switches Slack off for the
  tenant (with the reason, in the admin), tells the tenant admins in the app, and marks
  the message failed: no retry loop.
  Anything else (Slack answers 500, the network fails) raises: retried with backoff,
  dead-lettered in the end with the reason for the admin.

The token is decrypted for the call only; it never reaches a log, an error or an event.
"""

from __future__ import annotations

import logging

from django.utils import timezone, translation
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from apps.accounts.models import Role as UserRole
from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core import secrets
from apps.events.consumers import Deferred

from .. import conf, render
from ..kinds import Channel, Kind
from ..models import Message, MessageStatus, Notification, SlackWorkspace, TeamChannel

logger = logging.getLogger(__name__)

REVOKED = frozenset({"token_revoked", "invalid_auth", "account_inactive", "not_authed", "token_expired"})
TIMEOUT_SECONDS = 10


def client(token: str) -> WebClient:
    return WebClient(token=token, base_url=conf.get("WARDEN_SLACK_API_URL"), timeout=TIMEOUT_SECONDS)


def slack_send_due(*, message_id: int) -> int:
    """Send Slack message `message_id` once due. Returns how many messages it covered."""
    message = (
        Message.objects.select_related("notification__recipient", "notification__ticket__team", "notification__actor")
        .filter(pk=message_id)
        .first()
    )
    if message is None or message.status != MessageStatus.PENDING:
        return 0
    now = timezone.now()
    if message.send_after > now:
        raise Deferred("waits for its time", seconds=max(1.0, (message.send_after - now).total_seconds()))
    workspace = SlackWorkspace.objects.filter(enabled=True).first()
    if workspace is None:
        Message.objects.filter(pk=message.pk).update(status=MessageStatus.SKIPPED, detail="Slack is not connected")
        return 0
    try:
        token = secrets.decrypt(workspace.bot_token)
    except secrets.SecretUnreadable:
        return _switch_off(workspace, "the stored token cannot be decrypted with the configured keys", [message])
    notification = message.notification
    person = notification.recipient
    team_channel = _team_channel(notification)
    batch = [message]
    if team_channel is not None:
        batch = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                channel=Channel.SLACK, status=MessageStatus.PENDING, notification__key=notification.key,
                notification__kind=notification.kind,
            )
        ) or [message]
    language = render.language_of(person)
    with translation.override(language):
        item = render.items([notification], person, channel=Channel.SLACK)[0]
        blocks, text = _blocks(item)
    api = client(token)
    try:
        if team_channel is not None:
            target = team_channel
        else:
            found = api.users_lookupByEmail(email=person.email)
            target = found["user"]["id"]
        api.chat_postMessage(channel=target, text=text, blocks=blocks, unfurl_links=False)
    except SlackApiError as exc:
        return _failed(exc, workspace, batch)
    Message.objects.filter(pk__in=[m.pk for m in batch]).update(
        status=MessageStatus.SENT, sent_at=timezone.now(), batch_key=f"slack:{target}"[:64]
    )
    return len(batch)


def _team_channel(notification: Notification) -> str | None:
    ticket = notification.ticket
    if notification.kind != Kind.TICKET_CREATED or ticket is None or ticket.team_id is None:
        return None
    found = TeamChannel.objects.filter(team_id=ticket.team_id).values_list("channel", flat=True).first()
    return found or None


def _blocks(item: render.Item) -> tuple[list[dict], str]:
    from django.utils.translation import gettext as _

    text = item.headline
    section = f"*{_escape(item.headline)}*"
    if item.excerpt:
        section += "\n>" + _escape(item.excerpt).replace("\n", "\n>")
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": section}},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": _("Open the ticket")}, "url": item.url}
        ]},
    ]
    return blocks, text


def _escape(text: str) -> str:
    """Slack's three control characters (mrkdwn)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _failed(exc: SlackApiError, workspace: SlackWorkspace, batch: list[Message]) -> int:
    response = exc.response
    error = (response.get("error") if response is not None else "") or ""
    status = getattr(response, "status_code", None)
    if status == 429:
        headers = {key.lower(): value for key, value in (response.headers or {}).items()}
        wait = float(headers.get("retry-after") or 30)
        raise Deferred(f"Slack rate limit: retry after {wait:.0f} s", seconds=wait) from None
    if error == "users_not_found":
        Message.objects.filter(pk__in=[m.pk for m in batch]).update(
            status=MessageStatus.SKIPPED, detail="no Slack user with this person's email"
        )
        return 0
    if error in REVOKED:
        return _switch_off(workspace, f"Slack refused the token ({error})", batch)
    raise RuntimeError(f"Slack answered {status} {error or 'without an error code'}") from None


def _switch_off(workspace: SlackWorkspace, reason: str, batch: list[Message]) -> int:
    """Switch Slack off for the tenant, audited, tell its admins in the app, and mark the
    message failed (with the delivery's transaction: it ends normally, nothing retries)."""
    Message.objects.filter(pk__in=[m.pk for m in batch]).update(status=MessageStatus.FAILED, detail=reason[:300])
    updated = SlackWorkspace.objects.filter(pk=workspace.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:300], updated_at=timezone.now()
    )
    if not updated:
        return 0
    logger.error("Slack switched off for this tenant: %s", reason)
    audit_record(actor=None, action="notification.slack_disabled", target=workspace, payload={"reason": reason[:300]})
    now = timezone.now()
    Notification.objects.bulk_create(
        [
            Notification(recipient=admin, kind=Kind.SLACK_DISCONNECTED, key=f"slack-off:{now.isoformat()}",
                         event_id=0, context={"reason": reason[:300]}, created_at=now)
            for admin in User.objects.filter(role=UserRole.ADMIN, is_active=True)
        ],
        ignore_conflicts=True,
    )
    return 0
