"""Connecting the tenant's Slack workspace (tenant admins; policy `notification.configure`).

The bot token is checked against Slack (`auth.test`) before it is kept, stored encrypted
(apps.core.secrets), and never shown back, logged or audited: the audit event says that a
token was set, and for which workspace."""

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
    channel = (channel or "").strip()
    if channel and not (channel[:1] in "CG" and channel[1:].isalnum() and len(channel) <= 40):
        raise ApplicationError(gettext("Use the channel's id (e.g. C0123ABCDEF), not its name."),
                               errors={"channel": [gettext("A channel id.")]})
    if not channel:
        TeamChannel.objects.filter(team=team).delete()
        audit_record(actor=actor, action="notification.team_channel_changed", target=team, payload={"channel": None})
        return None
    row, _ = TeamChannel.objects.update_or_create(team=team, defaults={"channel": channel})
    audit_record(actor=actor, action="notification.team_channel_changed", target=team, payload={"channel": channel})
    return row
