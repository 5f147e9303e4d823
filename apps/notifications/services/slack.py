"""Connecting the tenant's Slack workspace (tenant admins; policy `notification.configure`).

The bot token is checked against Slack (`auth.test`) before it is kept, stored encrypted
(apps.core.secrets), and never shown back, logged or audited: the audit event says that a
token was set, and for which workspace. The same for the signing secret and the
app-level token of approvals in Slack (`slack_approvals_configure`)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from slack_sdk.errors import SlackApiError

from apps.audit.services import audit_record
from apps.core import secrets
from apps.core.errors import ApplicationError
from apps.policies.services import policy_require

from ..channels.slack import client
from ..models import SlackWorkspace, TeamChannel
from .preferences import NOTIFICATION_CONFIGURE


def _check(token: str) -> str:
    """The workspace's name, if Slack accepts the token; a clear error otherwise."""
    token = (token or "").strip()
    if not token.startswith("xoxb-"):
        raise ApplicationError(gettext("A Slack bot token starts with xoxb-."),
                               errors={"new_token": [gettext("Not a bot token.")]})
    try:
        answer = client(token).auth_test()
    except SlackApiError as exc:
        error = (exc.response.get("error") if exc.response is not None else "") or "refused"
        raise ApplicationError(gettext("Slack refused the token (%(error)s).") % {"error": error},
                               errors={"new_token": [f"Slack: {error}."]}) from None
    except OSError as exc:
        raise ApplicationError(gettext("Slack could not be reached; try again."),
                               errors={"new_token": [str(exc)[:200]]}) from None
    return str(answer.get("team") or "")


@transaction.atomic
def slack_connect(*, actor, bot_token: str) -> SlackWorkspace:
    """Connect (or reconnect, with a new token) the tenant's Slack workspace."""
    policy_require(actor, NOTIFICATION_CONFIGURE, None, {"object": "slack", "operation": "connect"})
    name = _check(bot_token)
    workspace, created = SlackWorkspace.objects.select_for_update().get_or_create(
        pk=1, defaults={"bot_token": secrets.encrypt(bot_token.strip()), "name": name}
    )
    workspace.bot_token = secrets.encrypt(bot_token.strip())
    workspace.name, workspace.enabled, workspace.disabled_reason = name, True, ""
    workspace.updated_at = timezone.now()
    workspace.save()
    audit_record(actor=actor, action="notification.slack_connected", target=workspace,
                 payload={"workspace": name, "token": "set", "reconnected": not created})
    return workspace


_UNSET = object()


def _channel_id(channel: str, field: str) -> str:
    channel = (channel or "").strip()
    if channel and not (channel[:1] in "CG" and channel[1:].isalnum() and len(channel) <= 40):
        raise ApplicationError(gettext("Use the channel's id (e.g. C0123ABCDEF), not its name."),
                               errors={field: [gettext("A channel id.")]})
    return channel


@transaction.atomic
def slack_approvals_configure(*, actor, signing_secret: str | None = None, app_token: str | None = None,
                              approvals_channel=_UNSET) -> SlackWorkspace:
    """Set what approvals in Slack need (apps.triage.slack): the signing secret that signs
    Slack's requests, the app-level token for Socket Mode, the channel for approval cards.

    `None` (or "") for a secret keeps the one that is set: they are write-only, stored
    encrypted, never shown back; the audit event says only which were changed.
    `clear` as a secret removes it."""
    policy_require(actor, NOTIFICATION_CONFIGURE, None, {"object": "slack", "operation": "approvals"})
    workspace = SlackWorkspace.objects.select_for_update().filter(pk=1).first()
    if workspace is None:
        raise ApplicationError(gettext("Connect Slack (a bot token) first."))
    changed: dict[str, object] = {}  # what was set or cleared, by name: never a value
    secret = (signing_secret or "").strip()
    if secret:
        if secret == "clear":
            workspace.signing_secret, changed["signing"] = "", "cleared"
        elif not (secret.isalnum() and 16 <= len(secret) <= 128):
            raise ApplicationError(gettext("A Slack signing secret is 16 to 128 letters and digits."),
                                   errors={"new_signing_secret": [gettext("Not a signing secret.")]})
        else:
            workspace.signing_secret, changed["signing"] = secrets.encrypt(secret), "set"
    token = (app_token or "").strip()
    if token:
        if token == "clear":
            workspace.app_token, changed["app_level"] = "", "cleared"
        elif not token.startswith("xapp-") or len(token) > 300 or any(c.isspace() for c in token):
            raise ApplicationError(gettext("A Slack app-level token starts with xapp-."),
                                   errors={"new_app_token": [gettext("Not an app-level token.")]})
        else:
            workspace.app_token, changed["app_level"] = secrets.encrypt(token), "set"
    if approvals_channel is not _UNSET:
        channel = _channel_id(str(approvals_channel or ""), "approvals_channel")
        if channel != workspace.approvals_channel:
            workspace.approvals_channel, changed["approvals_channel"] = channel, channel or None
    if not changed:
        return workspace
    workspace.updated_at = timezone.now()
    workspace.save(update_fields=["signing_secret", "app_token", "approvals_channel", "updated_at"])
    audit_record(actor=actor, action="notification.slack_approvals_configured", target=workspace, payload=changed)
    return workspace


@transaction.atomic
def slack_disconnect(*, actor) -> None:
    policy_require(actor, NOTIFICATION_CONFIGURE, None, {"object": "slack", "operation": "disconnect"})
    deleted, _ = SlackWorkspace.objects.filter(pk=1).delete()
    if deleted:
        audit_record(actor=actor, action="notification.slack_disconnected", target=None, payload={})


@transaction.atomic
def team_channel_set(*, actor, team, channel: str) -> TeamChannel | None:
    """Where `team`'s new tickets go in Slack ("" stops posting there)."""
    policy_require(actor, NOTIFICATION_CONFIGURE, None, {"object": "team_channel", "team": team.pk})
    channel = _channel_id(channel, "channel")
    if not channel:
        TeamChannel.objects.filter(team=team).delete()
        audit_record(actor=actor, action="notification.team_channel_changed", target=team, payload={"channel": None})
        return None
    row, _ = TeamChannel.objects.update_or_create(team=team, defaults={"channel": channel})
    audit_record(actor=actor, action="notification.team_channel_changed", target=team, payload={"channel": channel})
    return row
