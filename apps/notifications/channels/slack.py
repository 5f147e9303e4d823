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

import hashlib
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection
from django.utils import timezone, translation
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core import secrets
from apps.events.consumers import Deferred

from .. import conf, render
from ..alerts import admins_alert
from ..kinds import Channel, Kind
from ..models import Message, MessageStatus, Notification, SlackWorkspace, TeamChannel
from .common import due_state, mark_sent

logger = logging.getLogger(__name__)

REVOKED = frozenset({"token_revoked", "invalid_auth", "account_inactive", "not_authed", "token_expired"})
TIMEOUT_SECONDS = 10
BATCH_MESSAGES = 250  # due messages one delivery sends (its own and others')
THREADS = 8  # posts in flight at once


def client(token: str) -> WebClient:
    return WebClient(token=token, base_url=conf.get("WARDEN_SLACK_API_URL"), timeout=TIMEOUT_SECONDS)


def slack_send_due(*, message_id: int) -> int:
    """Send Slack message `message_id` once due, and with it the due Slack messages of
    others (up to BATCH_MESSAGES, posted THREADS at a time). Returns how many messages
    went out.

    The own message goes first and alone decides the delivery's outcome (retried, waiting
    for Slack's Retry-After, or Slack switched off); the others' failures leave them
    pending for their own deliveries (a person Slack does not know is skipped)."""
    state = due_state(message_id)
    if state is None or state[0] != MessageStatus.PENDING:
        return 0  # sent along by another delivery (most of a fan-out's are)
    now = timezone.now()
    if state[1] > now:
        raise Deferred("waits for its time", seconds=max(1.0, (state[1] - now).total_seconds()))
    message = Message(pk=message_id)
    workspace = SlackWorkspace.objects.filter(enabled=True).first()
    if workspace is None:
        Message.objects.filter(pk=message.pk).update(status=MessageStatus.SKIPPED, detail="Slack is not connected")
        return 0
    try:
        token = secrets.decrypt(workspace.bot_token)
    except secrets.SecretUnreadable:
        return _switch_off(workspace, "the stored token cannot be decrypted with the configured keys", [message])
    posts = _due_posts(message, now=now)
    if not posts or message.pk not in posts[0].ids:
        return 0  # another delivery holds it and sends it
    overrides = render.load_overrides()
    for post in posts:
        post.render(overrides)
    people = _SlackPeople(workspace, (post.person.email for post in posts if post.channel is None))
    own, others = posts[0], posts[1:]
    try:
        _post(client(token), own, people)
    except SlackApiError as exc:
        people.remember()
        return _failed(exc, workspace, own.messages)
    sent = [own]
    stop = threading.Event()

    def send(post: _Post) -> Exception | None:
        if stop.is_set():
            return None
        try:
            _post(client(token), post, people)
        except Exception as exc:  # noqa: BLE001 - reported below, per post
            if isinstance(exc, SlackApiError) and _error_code(exc) != "users_not_found":
                stop.set()  # rate limited, refused or failing: leave the rest to their own deliveries
            return exc
        return None

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(send, others))
    people.remember()
    for post, error in zip(others, outcomes, strict=True):
        if post.target is not None and error is None:
            sent.append(post)
        elif isinstance(error, SlackApiError) and _error_code(error) == "users_not_found":
            Message.objects.filter(pk__in=post.ids).update(
                status=MessageStatus.SKIPPED, detail="no Slack user with this person's email"
            )
        elif isinstance(error, SlackApiError) and _error_code(error) in REVOKED:
            _switch_off(workspace, f"Slack refused the token ({_error_code(error)})", post.messages)
        elif error is not None:
            logger.warning("slack: sending along failed (%s); left to its own delivery", type(error).__name__)
    mark_sent((post.ids, f"slack:{post.target}") for post in sent)
    return sum(len(post.messages) for post in sent)


@dataclass
class _Post:
    """One Slack post: a person's direct message, or a new ticket's post to its team's
    channel (standing for every member's message about it)."""

    messages: list[Message]
    channel: str | None = None  # a team channel; None: the recipient's direct messages
    target: str | None = None  # where it went
    text: str = ""
    blocks: list[dict] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [m.pk for m in self.messages]

    @property
    def person(self) -> User:
        return self.messages[0].notification.recipient

    def render(self, overrides) -> None:
        with translation.override(render.language_of(self.person)):
            item = render.items([self.messages[0].notification], self.person, channel=Channel.SLACK,
                                overrides=overrides)[0]
            self.blocks, self.text = _blocks(item)


def _due_posts(message: Message, *, now) -> list[_Post]:
    """What is due, locked (messages another delivery holds are left to it): the post of
    `message` first, then others'. A team channel's post takes every member's message of
    that new ticket."""
    rows = list(
        Message.objects.filter(channel=Channel.SLACK, status=MessageStatus.PENDING, send_after__lte=now)
        .exclude(pk=message.pk)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("notification__recipient", "notification__ticket", "notification__actor")
        .order_by("pk")[: BATCH_MESSAGES - 1]
    )
    own = (
        Message.objects.filter(pk=message.pk, status=MessageStatus.PENDING)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("notification__recipient", "notification__ticket", "notification__actor")
        .first()
    )
    if own is None:
        return []
    channels = dict(TeamChannel.objects.exclude(channel="").values_list("team_id", "channel"))
    posts: list[_Post] = []
    by_key: dict[str, _Post] = {}
    for row in [own, *rows]:
        channel = _team_channel(row.notification, channels)
        if channel is None:
            posts.append(_Post(messages=[row]))
            continue
        key = row.notification.key
        if key in by_key:
            by_key[key].messages.append(row)
            continue
        by_key[key] = _Post(messages=[row], channel=channel)
        posts.append(by_key[key])
    for key, post in by_key.items():  # the members' messages about it not among the rows
        seen = set(post.ids)
        post.messages.extend(
            m for m in Message.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                channel=Channel.SLACK, status=MessageStatus.PENDING, notification__key=key,
                notification__kind=Kind.TICKET_CREATED,
            ) if m.pk not in seen
        )
    return posts


class _SlackPeople:
    """Slack user ids by email, remembered for a day (users.lookupByEmail is rate limited
    to tens of calls a minute): a fan-out to a thousand people looks each up once.
    Connecting again (a new token, perhaps another workspace) starts afresh: the keys
    name the stored token's ciphertext, new on every connect."""

    def __init__(self, workspace: SlackWorkspace, emails: Iterable[str]) -> None:
        connected = hashlib.sha256(workspace.bot_token.encode()).hexdigest()[:16]
        self.prefix = f"notifications:slack-user:{connection.schema_name}:{connected}:"
        keys = {self.key(email) for email in emails if email}
        self.known: dict[str, str] = cache.get_many(keys) if keys else {}
        self.found: dict[str, str] = {}
        self.lock = threading.Lock()

    def key(self, email: str) -> str:
        return self.prefix + hashlib.sha256(email.lower().encode()).hexdigest()[:32]

    def lookup(self, api: WebClient, email: str) -> str:
        key = self.key(email)
        known = self.known.get(key)
        if known is None:
            known = api.users_lookupByEmail(email=email)["user"]["id"]
            with self.lock:
                self.found[key] = known
        return known

    def forget(self, email: str) -> None:
        with self.lock:
            self.found.pop(self.key(email), None)
        cache.delete(self.key(email))

    def remember(self) -> None:
        with self.lock:
            found, self.found = self.found, {}
        if found:
            cache.set_many(found, timeout=24 * 3600)


def _post(api: WebClient, post: _Post, people: _SlackPeople) -> None:
    target = post.channel or people.lookup(api, post.person.email)
    try:
        api.chat_postMessage(channel=target, text=post.text, blocks=post.blocks, unfurl_links=False)
    except SlackApiError as exc:
        if post.channel is None and _error_code(exc) in {"channel_not_found", "user_not_found"}:
            people.forget(post.person.email)
        raise
    post.target = target


def _error_code(exc: SlackApiError) -> str:
    response = exc.response
    return (response.get("error") if response is not None else "") or ""


def _team_channel(notification: Notification, channels: dict[int, str]) -> str | None:
    ticket = notification.ticket
    if notification.kind != Kind.TICKET_CREATED or ticket is None or ticket.team_id is None:
        return None
    return channels.get(ticket.team_id) or None


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
    error = _error_code(exc)
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
    admins_alert(kind=Kind.SLACK_DISCONNECTED, key=f"slack-off:{timezone.now().isoformat()}",
                 context={"reason": reason[:300]})
    return 0
