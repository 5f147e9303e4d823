"""Every write to people, roles, teams and tokens goes through here.

Each one asks the tenant's policies first (`user.manage`; the baseline grants it to
admins and to the system, i.e. provisioning and operator commands) and appends an audit
event in the same transaction. `actor` is the user doing it, or None for the system;
`actor_label` names an operator (`operator:alice`) or platform admin when there is no
tenant user behind the change. The tenant admin's user and team pages call these too
(apps/accounts/admin.py); docs/accounts.md lists the rules and events.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext
from rest_framework.authtoken.models import Token

from apps.core import governance
from apps.core.errors import ApplicationError, PermissionDenied
from apps.core.timezones import is_zone

from .models import Role, Team, TeamMembership, User

USER_MANAGE = "user.manage"


def _require(actor: User | None, target=None, context: dict | None = None) -> None:
    governance.require(actor, USER_MANAGE, target, context)


def _sync_staff(user: User) -> None:
    # The admin site is for tenant admins; is_staff mirrors the role.
    user.is_staff = user.role == Role.ADMIN


@transaction.atomic
def user_create(
    *,
    email: str,
    role: Role | str = Role.REQUESTER,
    password: str | None = None,
    full_name: str = "",
    actor: User | None = None,
    actor_label: str | None = None,
    validate: bool = True,
) -> User:
    _require(actor, None, {"role": str(role)})
    email = User.objects.normalize_email(email).strip().lower()
    if role not in Role.values:
        raise ApplicationError(gettext("Unknown role %(role)r; use one of %(roles)s.")
                               % {"role": role, "roles": ", ".join(Role.values)})
    if User.objects.filter(email__iexact=email).exists():
        raise ApplicationError(gettext("A user with email %(email)s already exists.") % {"email": email})
    user = User(email=email, role=role, full_name=full_name)
    _sync_staff(user)
    try:
        user.full_clean(exclude=["password"])
        if password and validate:
            validate_password(password, user)
    except ValidationError as exc:
        raise ApplicationError("; ".join(exc.messages)) from exc
    user.set_password(password)
    user.save()
    _audit(actor, "user.created", user, {"email": user.email, "role": user.role}, actor_label)
    return user


@transaction.atomic
def user_set_role(*, user: User, role: Role | str, actor: User | None = None) -> User:
    _require(actor, user, {"role": str(role)})
    if role not in Role.values:
        raise ApplicationError(gettext("Unknown role %(role)r.") % {"role": role})
    previous = user.role
    if previous == role:
        return user
    if previous == Role.ADMIN:
        _keep_an_active_admin(user)
    user.role = role
    _sync_staff(user)
    user.save(update_fields=["role", "is_staff"])
    _audit(actor, "user.role_changed", user, {"from": previous, "to": role})
    return user


@transaction.atomic
def user_update(
    *,
    user: User,
    actor: User | None = None,
    email: str | None = None,
    full_name: str | None = None,
    language: str | None = None,
    time_zone: str | None = None,
) -> User:
    """Change the profile fields given (None leaves a field alone); role, active flag and
    password have services of their own, with their own events. `time_zone` is an IANA
    name, or "" for the organisation's (people change their own with `user_set_time_zone`).

    A new email address is the sign-in name from now on: allauth's address records of the
    old one are removed with it, so the old address can neither sign in nor receive a
    password reset for this account.
    """
    _require(actor, user)
    changes: dict[str, dict[str, str]] = {}
    if email is not None:
        email = User.objects.normalize_email(email).strip().lower()
        if email != user.email:
            if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
                message = gettext("A user with email %(email)s already exists.") % {"email": email}
                raise ApplicationError(message, errors={"email": [message]})
            changes["email"] = {"from": user.email, "to": email}
            user.email = email
    if full_name is not None and full_name.strip() != user.full_name:
        changes["full_name"] = {"from": user.full_name, "to": full_name.strip()}
        user.full_name = full_name.strip()
    if language is not None and language != user.language:
        if language and language not in dict(settings.LANGUAGES):
            message = gettext("Unknown language %(language)r; use one of %(languages)s or none.") % {
                "language": language, "languages": ", ".join(dict(settings.LANGUAGES))}
            raise ApplicationError(message, errors={"language": [message]})
        changes["language"] = {"from": user.language, "to": language}
        user.language = language
    if time_zone is not None and time_zone.strip() != user.time_zone:
        time_zone = _time_zone(time_zone)
        changes["time_zone"] = {"from": user.time_zone, "to": time_zone}
        user.time_zone = time_zone
    if not changes:
        return user
    try:
        user.full_clean(exclude=["password"], validate_unique=False)
    except ValidationError as exc:
        raise ApplicationError("; ".join(exc.messages), errors=exc.message_dict) from exc
    user.save(update_fields=list(changes))
    if "email" in changes:
        from allauth.account.models import EmailAddress

        EmailAddress.objects.filter(user=user).exclude(email__iexact=user.email).delete()
    _audit(actor, "user.updated", user, {"changes": changes})
    return user


def _time_zone(name: str) -> str:
    name = (name or "").strip()
    if name and not is_zone(name):
        message = f"Unknown time zone {name!r}: use an IANA name such as Europe/Warsaw, or none for the organisation's."
        raise ApplicationError(message, errors={"time_zone": [message]})
    return name


@transaction.atomic
def user_set_time_zone(*, user: User, time_zone: str, actor: User | None) -> User:
    """A person chooses the zone they see dates and times in ("" = their organisation's).

    Their own only, like their notification preferences: it changes what they see and
    nothing anyone else sees or may do, so no policy is asked (the tenant's rules could
    otherwise lock people out of their own clock); an admin changes someone else's with
    `user_update` (policy `user.manage`). Audited as `user.time_zone_changed`.
    """
    if actor is None or not getattr(actor, "is_authenticated", False) or actor.pk != user.pk:
        raise PermissionDenied(gettext("People choose their own time zone; an admin changes someone else's on their user page."))
    time_zone = _time_zone(time_zone)
    locked = User.objects.select_for_update().get(pk=user.pk)
    previous = locked.time_zone
    if previous == time_zone:
        user.time_zone = time_zone
        return user
    User.objects.filter(pk=user.pk).update(time_zone=time_zone)
    user.time_zone = time_zone
    _audit(actor, "user.time_zone_changed", user, {"from": previous, "to": time_zone})
    return user


@transaction.atomic
def user_set_active(*, user: User, active: bool, actor: User | None = None) -> User:
    """Deactivate (nobody is deleted: tickets, comments and the audit chain refer to
    people) or reactivate someone.

    A deactivated user's sessions stop working at their next request (Django's backend
    refuses inactive users) and their API token is deleted, so reactivating them does
    not bring back a key that may have leaked meanwhile. The tenant's last active admin
    cannot be deactivated.
    """
    _require(actor, user, {"active": active})
    if user.is_active == active:
        return user
    if not active and user.role == Role.ADMIN:
        _keep_an_active_admin(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    if not active:
        Token.objects.filter(user=user).delete()
    _audit(actor, "user.reactivated" if active else "user.deactivated", user, {})
    return user


def _keep_an_active_admin(user: User) -> None:
    """Refuse to take the admin role or the active flag from the last active admin: nobody
    could manage people, teams or policies in the tenant any more.

    The active admins' rows are locked in pk order, so two admins demoting each other at
    the same moment cannot both succeed.
    """
    admins = list(
        User.objects.select_for_update().filter(role=Role.ADMIN, is_active=True).order_by("pk").values_list("pk", flat=True)
    )
    if admins == [user.pk]:
        raise ApplicationError(
            gettext("%(email)s is the last active admin of this organisation; make someone else an admin first.")
            % {"email": user.email}
        )


@transaction.atomic
def user_set_password(*, user: User, password: str, actor: User | None = None) -> User:
    _require(actor, user)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ApplicationError("; ".join(exc.messages)) from exc
    user.set_password(password)
    user.save(update_fields=["password"])
    _audit(actor, "user.password_set", user, {})
    return user


def _team_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ApplicationError(gettext("A team needs a name."), errors={"name": [gettext("A team needs a name.")]})
    limit = Team._meta.get_field("name").max_length
    if len(name) > limit:
        message = gettext("A team name has at most %(limit)s characters.") % {"limit": limit}
        raise ApplicationError(message, errors={"name": [message]})
    return name


@transaction.atomic
def team_create(
    *, name: str, lead: User | None = None, actor: User | None = None, actor_label: str | None = None
) -> Team:
    _require(actor)
    name = _team_name(name)
    if Team.objects.filter(name__iexact=name).exists():
        raise ApplicationError(gettext("A team named %(name)r already exists.") % {"name": name})
    team = Team.objects.create(name=name, lead=lead)
    _audit(actor, "team.created", team, {"name": name, "lead": lead.pk if lead else None}, actor_label)
    if lead is not None:
        team_add_member(team=team, user=lead, actor=actor, actor_label=actor_label)
    return team


@transaction.atomic
def team_rename(*, team: Team, name: str, actor: User | None = None) -> Team:
    _require(actor, team)
    name = _team_name(name)
    if name == team.name:
        return team
    if Team.objects.filter(name__iexact=name).exclude(pk=team.pk).exists():
        message = gettext("A team named %(name)r already exists.") % {"name": name}
        raise ApplicationError(message, errors={"name": [message]})
    previous, team.name = team.name, name
    team.save(update_fields=["name"])
    _audit(actor, "team.renamed", team, {"from": previous, "to": name})
    return team


@transaction.atomic
def team_delete(*, team: Team, actor: User | None = None) -> None:
    """Delete a team that nothing still depends on.

    Refused while anything registered in `references` still needs it: tickets that are
    not closed or cancelled in the team's queue (the database would quietly drop them out
    of every team), an SLA policy limited to the team (losing its last team would widen it
    to every team) or an escalation step that reassigns to it. Memberships and the team's
    saved views go with it.
    """
    from django.db.models.deletion import ProtectedError, RestrictedError

    from .references import team_references

    _require(actor, team)
    team = Team.objects.select_for_update().get(pk=team.pk)
    problems = team_references(team)
    if problems:
        raise ApplicationError(gettext("The team %(name)r cannot be deleted: %(problems)s.")
                               % {"name": team.name, "problems": "; ".join(problems)})
    members = list(team.memberships.order_by("user_id").values_list("user_id", flat=True))
    _audit(actor, "team.deleted", team, {"name": team.name, "lead": team.lead_id, "members": members})
    try:
        team.delete()
    except ProtectedError as exc:  # a reference added after the checks above were written
        used_by = exc.protected_objects
    except RestrictedError as exc:
        used_by = exc.restricted_objects
    else:
        return
    names = ", ".join(sorted({f"{obj._meta.verbose_name} {obj}" for obj in used_by}))
    raise ApplicationError(gettext("The team %(name)r cannot be deleted: it is still used by %(names)s.")
                           % {"name": team.name, "names": names})


@transaction.atomic
def team_add_member(
    *, team: Team, user: User, actor: User | None = None, actor_label: str | None = None
) -> TeamMembership:
    _require(actor, team)
    membership, created = TeamMembership.objects.get_or_create(team=team, user=user)
    if created:
        _audit(actor, "team.member_added", team, {"user": user.pk}, actor_label)
    return membership


@transaction.atomic
def team_remove_member(*, team: Team, user: User, actor: User | None = None) -> None:
    _require(actor, team)
    deleted, _ = TeamMembership.objects.filter(team=team, user=user).delete()
    was_lead = team.lead_id == user.pk
    if was_lead:
        team.lead = None
        team.save(update_fields=["lead"])
    if deleted or was_lead:
        _audit(actor, "team.member_removed", team, {"user": user.pk, "was_lead": was_lead})


@transaction.atomic
def team_set_lead(*, team: Team, lead: User | None, actor: User | None = None) -> Team:
    _require(actor, team)
    previous = team.lead_id
    if previous == (lead.pk if lead else None):
        return team
    team.lead = lead
    team.save(update_fields=["lead"])
    if lead is not None:
        team_add_member(team=team, user=lead, actor=actor)
    _audit(actor, "team.lead_changed", team, {"from": previous, "to": lead.pk if lead else None})
    return team


@transaction.atomic
def token_issue(*, user: User, actor: User | None = None) -> Token:
    """The user's API token, created on first use. One token per user."""
    token, created = Token.objects.get_or_create(user=user)
    if created:
        _audit(actor or user, "token.issued", user, {})
    return token


def _audit(actor: User | None, action: str, target, payload: dict, actor_label: str | None = None) -> None:
    governance.record(actor=actor, action=action, target=target, payload=payload, actor_label=actor_label)


def token_second_factor_check(*, user: User, tenant, code: str, client: dict | None = None) -> None:
    """Raise unless `user` may get an API token without more than `code`.

    Someone with an authenticator app must give its current code (allauth's TOTP check,
    which also refuses a code already used); an admin of a tenant that requires MFA for
    admins and has no app yet is sent to the web to enrol one. Every refusal is audited
    (`auth.mfa_failed`) and survives the error response (no transaction to roll back).
    """
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    from apps.core.errors import PermissionDenied

    from .permissions import is_tenant_admin

    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    required = bool(getattr(tenant, "mfa_required_for_admins", False)) and is_tenant_admin(user)
    if authenticator is None:
        if not required:
            return
        _mfa_failed(user, "not_enrolled", client)
        raise PermissionDenied(
            gettext("Your organisation requires two-factor authentication for admins: "
                    "sign in on the web and set up an authenticator app first.")
        )
    code = "".join((code or "").split())
    if not code:
        _mfa_failed(user, "missing", client)
        raise ApplicationError(
            gettext("A code from your authenticator app is required: send it as `otp`."),
            errors={"otp": [gettext("This field is required for your account.")]},
        )
    if not TOTP(authenticator).validate_code(code):
        _mfa_failed(user, "invalid", client)
        raise ApplicationError(
            gettext("The authenticator code is wrong, expired or already used."),
            errors={"otp": [gettext("Wrong, expired or already used code.")]},
        )


def _mfa_failed(user: User, reason: str, client: dict | None) -> None:
    governance.record(
        actor=user, action="auth.mfa_failed", target=user, payload={"channel": "api", "reason": reason, **(client or {})}
    )
