"""Who is told what, how: a person's own preferences, the tenant's defaults and rules.

A person changes only their own preferences (checked here; audited as
`notification.preferences_changed`); the tenant's rules and channel defaults are tenant
configuration (policy `notification.configure`, audited)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, PermissionDenied
from apps.policies.services import policy_require

from ..kinds import Channel, Kind, Role
from ..models import ChannelDefault, Digest, NotificationRule, Preference, Profile

NOTIFICATION_CONFIGURE = "notification.configure"


def _own(actor, user):
    if actor is None or not getattr(actor, "is_authenticated", False) or actor.pk != user.pk:
        raise PermissionDenied(gettext("People change their own notification preferences."))


def _check_pairs(choices: Mapping) -> dict[tuple[str, str], bool]:
    clean: dict[tuple[str, str], bool] = {}
    errors: dict[str, list[str]] = {}
    for key, value in choices.items():
        kind, _, channel = str(key).partition(".")
        if kind not in Kind.values or channel not in Channel.values:
            errors.setdefault("channels", []).append(
                gettext("Unknown kind and channel %(key)r (use <kind>.<channel>).") % {"key": key})
            continue
        if not isinstance(value, bool):
            errors.setdefault("channels", []).append(gettext("%(key)s: use true or false.") % {"key": key})
            continue
        if kind and channel == Channel.IN_APP and value is False and kind == Kind.MENTIONED:
            errors.setdefault("channels", []).append(gettext("Mentions always show in the app."))
            continue
        clean[(kind, channel)] = value
    if errors:
        raise ApplicationError(gettext("The preferences are not valid."), errors=errors)
    return clean


@transaction.atomic
def preferences_set(
    *,
    actor,
    user,
    channels: Mapping[str, bool] | None = None,
    email_digest: str | None = None,
    quiet_from: time | None | str = "",
    quiet_until: time | None | str = "",
) -> Profile:
    """Change `user`'s own preferences: `channels` maps "<kind>.<channel>" to on/off;
    `email_digest` is immediate, hourly or daily; quiet hours are two times (both or
    neither; "" leaves them as they are)."""
    _own(actor, user)
    pairs = _check_pairs(channels or {})
    profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
    changes: dict = {}
    if email_digest is not None and email_digest != profile.email_digest:
        if email_digest not in Digest.values:
            raise ApplicationError(gettext("Unknown digest."), errors={
                "email_digest": [gettext("Use one of %(values)s.") % {"values": ", ".join(Digest.values)}]})
        changes["email_digest"] = {"from": profile.email_digest, "to": email_digest}
        profile.email_digest = email_digest
    if quiet_from != "" or quiet_until != "":
        if (quiet_from is None) != (quiet_until is None):
            raise ApplicationError(gettext("Quiet hours need a start and an end."),
                                   errors={"quiet_hours": [gettext("Give both times, or neither.")]})
        if (quiet_from, quiet_until) != (profile.quiet_from, profile.quiet_until):
            changes["quiet_hours"] = {"from": [str(profile.quiet_from), str(profile.quiet_until)],
                                      "to": [str(quiet_from), str(quiet_until)]}
            profile.quiet_from, profile.quiet_until = quiet_from, quiet_until
    profile.save()
    for (kind, channel), enabled in pairs.items():
        Preference.objects.update_or_create(user=user, kind=kind, channel=channel, defaults={"enabled": enabled})
    if pairs:
        changes["channels"] = {f"{k}.{c}": v for (k, c), v in sorted(pairs.items())}
    if changes:
        audit_record(actor=actor, action="notification.preferences_changed", target=user, payload=changes)
    return profile


@transaction.atomic
def preference_unsubscribe(*, user, kind: str) -> int:
    """One-click unsubscribe from an email (RFC 8058): email off for `kind` (or, "*", for
    every kind). The signed link stands for the person; audited as theirs."""
    kinds = Kind.values if kind == "*" else [kind]
    if not set(kinds) <= set(Kind.values):
        raise ApplicationError(gettext("Unknown kind."))
    for name in kinds:
        Preference.objects.update_or_create(user=user, kind=name, channel=Channel.EMAIL, defaults={"enabled": False})
    audit_record(actor=user, action="notification.unsubscribed", target=user,
                 payload={"kinds": sorted(kinds), "channel": Channel.EMAIL, "via": "email link"})
    return len(kinds)


@transaction.atomic
def rule_set(*, actor, kind: str, recipients: list[str], enabled: bool = True) -> NotificationRule:
    """Who hears of `kind` in this tenant."""
    policy_require(actor, NOTIFICATION_CONFIGURE, None, {"object": "rule", "kind": kind})
    if kind not in Kind.values:
        raise ApplicationError(gettext("Unknown kind."),
                               errors={"kind": [gettext("Use one of %(values)s.") % {"values": ", ".join(Kind.values)}]})
    unknown = sorted(set(recipients) - set(Role.values))
    if unknown:
        raise ApplicationError(gettext("Unknown recipients."),
                               errors={"recipients": [gettext("Unknown: %(values)s.") % {"values": ", ".join(unknown)}]})
    rule, _ = NotificationRule.objects.select_for_update().get_or_create(kind=kind)
    before = {"recipients": list(rule.recipients), "enabled": rule.enabled}
    rule.recipients, rule.enabled, rule.updated_at = sorted(set(recipients)), bool(enabled), timezone.now()
    rule.save()
    after = {"recipients": list(rule.recipients), "enabled": rule.enabled}
    if before != after:
        audit_record(actor=actor, action="notification.rule_changed", target=rule,
                     payload={"kind": kind, "from": before, "to": after})
    return rule


@transaction.atomic
def channel_default_set(*, actor, kind: str, channel: str, enabled: bool) -> ChannelDefault:
    """Whether `kind` goes out on `channel` for people who did not choose themselves."""
    policy_require(actor, NOTIFICATION_CONFIGURE, None, {"object": "channel_default", "kind": kind, "channel": channel})
    _check_pairs({f"{kind}.{channel}": bool(enabled)})
    default, created = ChannelDefault.objects.update_or_create(kind=kind, channel=channel,
                                                               defaults={"enabled": bool(enabled)})
    audit_record(actor=actor, action="notification.default_changed", target=default,
                 payload={"kind": kind, "channel": channel, "enabled": bool(enabled), "created": created})
    return default
