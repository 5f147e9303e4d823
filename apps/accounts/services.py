"""Every write to people, roles, teams and tokens goes through here.

Each one asks the tenant's policies first (`user.manage`; the baseline grants it to
admins and to the system, i.e. provisioning and operator commands) and appends an audit
event in the same transaction. `actor` is the user doing it, or None for the system;
`actor_label` names an operator (`operator:alice`) or platform admin when there is no
tenant user behind the change.
"""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

from apps.core.errors import ApplicationError

from .models import Role, Team, TeamMembership, User

USER_MANAGE = "user.manage"


def _require(actor: User | None, target=None, context: dict | None = None) -> None:
    from apps.policies.services import policy_require

    policy_require(actor, USER_MANAGE, target, context)


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
        raise ApplicationError(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.")
    if User.objects.filter(email__iexact=email).exists():
        raise ApplicationError(f"A user with email {email} already exists.")
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
        raise ApplicationError(f"Unknown role {role!r}.")
    previous = user.role
    if previous == role:
        return user
    user.role = role
    _sync_staff(user)
    user.save(update_fields=["role", "is_staff"])
    _audit(actor, "user.role_changed", user, {"from": previous, "to": role})
    return user


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


@transaction.atomic
def team_create(
    *, name: str, lead: User | None = None, actor: User | None = None, actor_label: str | None = None
) -> Team:
    _require(actor)
    name = name.strip()
    if not name:
        raise ApplicationError("A team needs a name.")
    if Team.objects.filter(name__iexact=name).exists():
        raise ApplicationError(f"A team named {name!r} already exists.")
    team = Team.objects.create(name=name, lead=lead)
    _audit(actor, "team.created", team, {"name": name, "lead": lead.pk if lead else None}, actor_label)
    if lead is not None:
        team_add_member(team=team, user=lead, actor=actor, actor_label=actor_label)
    return team


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
    if team.lead_id == user.pk:
        team.lead = None
        team.save(update_fields=["lead"])
    if deleted:
        _audit(actor, "team.member_removed", team, {"user": user.pk})


@transaction.atomic
def team_set_lead(*, team: Team, lead: User | None, actor: User | None = None) -> Team:
    _require(actor, team)
    previous = team.lead_id
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
    from apps.audit.services import audit_record

    audit_record(actor=actor, action=action, target=target, payload=payload, actor_label=actor_label)


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
            "Your organisation requires two-factor authentication for admins: "
            "sign in on the web and set up an authenticator app first."
        )
    code = "".join((code or "").split())
    if not code:
        _mfa_failed(user, "missing", client)
        raise ApplicationError(
            "A code from your authenticator app is required: send it as `otp`.",
            errors={"otp": ["This field is required for your account."]},
        )
    if not TOTP(authenticator).validate_code(code):
        _mfa_failed(user, "invalid", client)
        raise ApplicationError(
            "The authenticator code is wrong, expired or already used.",
            errors={"otp": ["Wrong, expired or already used code."]},
        )


def _mfa_failed(user: User, reason: str, client: dict | None) -> None:
    from apps.audit.services import audit_record

    audit_record(
        actor=user, action="auth.mfa_failed", target=user, payload={"channel": "api", "reason": reason, **(client or {})}
    )
