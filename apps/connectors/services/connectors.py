"""Configuring connectors (tenant admins; policy `connector.configure`).

The secret is encrypted (apps.core.secrets) before it is stored and never shown back,
logged or audited: audit events say *that* it changed. The base URL passes the SSRF
guard when saved (and again before every call, client.py).

A connector routed through a customer agent (`route="agent"`, docs/decisions/0024) names
its agent, keeps no secret (the agent adds the credentials it holds) and its base URL
passes the agent route's check (agent/guard.py: no DNS, the host is internal)."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.audit.services import audit_record
from apps.core import secrets
from apps.core.errors import ApplicationError
from apps.events.services.emit import emit
from apps.policies.services import policy_require
from apps.tenants import residency

from .. import guard
from ..actions import CONNECTOR_CONFIGURE
from ..agent.guard import parse_agent_url  # customer agent (0024)
from ..choices import AuthScheme, Status
from ..client import check_url
from ..disabling import SECRET_UNREADABLE, connector_disable_unreadable  # noqa: F401 - part of the services
from ..events import ConnectorDisabled
from ..models import Connector, ConnectorAgent, Route
from ..registry import KINDS
from ..selectors import verified_domain_patterns

NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_WRITE_CAP = 100_000

_GUARD_MESSAGES = {
    "scheme": lambda: gettext("Only https:// URLs are allowed."),
    "userinfo": lambda: gettext("A user name or password in the URL is not allowed; use the credentials fields."),
    "ip_literal": lambda: gettext("Use the service's host name, not an IP address."),
    "port": lambda: gettext("Only https:// on port 443 is allowed."),
    "host_not_allowed": lambda: gettext("This host is not allowed for this kind of connector (add it as a verified "
                                        "custom domain first)."),
    "dns": lambda: gettext("The host name could not be resolved."),
    "address": lambda: gettext("The host name resolves to an internal or reserved address."),
    "malformed": lambda: gettext("This is not a valid URL."),
}


def guard_message(exc: guard.UrlRefused) -> str:
    return _GUARD_MESSAGES.get(exc.code, lambda: exc.message)()


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, errors={field: [message]})


def _check_base_url(kind: str, base_url: str, *, resolver=None, route: str = Route.DIRECT) -> str:
    url = (base_url or "").strip().rstrip("/")
    hosts = list(KINDS.get(kind).hosts) + verified_domain_patterns()
    try:
        if route == Route.AGENT:  # customer agent (0024): an internal host, not resolved here
            target = parse_agent_url(url, allowed_hosts=hosts)
        else:
            target = check_url(url, hosts=hosts, resolver=resolver).target
    except guard.UrlRefused as exc:
        raise _invalid("base_url", guard_message(exc)) from None
    if "?" in target.path or "#" in url:
        raise _invalid("base_url", gettext("The base URL takes no query or fragment."))
    return url


def _check_common(*, kind: str, name: str, auth_scheme: str, username: str, daily_write_cap: int, region: str) -> None:
    if kind not in KINDS:
        raise _invalid("kind", gettext("Unknown connector kind %(kind)r.") % {"kind": kind})
    if not NAME.match(name or ""):
        raise _invalid("name", gettext("Use lower case letters, digits and hyphens (up to 64)."))
    allowed = KINDS.get(kind).auth_schemes
    if auth_scheme not in AuthScheme.values or (auth_scheme != AuthScheme.NONE and auth_scheme not in allowed):
        raise _invalid("auth_scheme", gettext("This kind of connector authenticates with: %(schemes)s.")
                       % {"schemes": ", ".join(allowed)})
    if auth_scheme == AuthScheme.BASIC and not (username or "").strip():
        raise _invalid("username", gettext("A user name is required for this authentication."))
    if not 0 <= int(daily_write_cap) <= MAX_WRITE_CAP:
        raise _invalid("daily_write_cap", gettext("Between 0 and %(max)d.") % {"max": MAX_WRITE_CAP})
    tenant = getattr(connection, "tenant", None)
    if region not in settings.WARDEN_REGIONS or (tenant is not None and hasattr(tenant, "allowed_regions")
                                                 and not residency.region_allowed(tenant, region)):
        raise _invalid("region", gettext("The organisation's data may not go to region %(region)s.") % {"region": region})


def _check_route(*, route: str, agent, auth_scheme: str, secret: str) -> ConnectorAgent | None:
    """The agent of an agent-routed connector (None for a direct one), or form errors."""
    if route not in Route.values:
        raise _invalid("route", gettext("Choose direct or through a customer agent."))
    if route == Route.DIRECT:
        return None
    if agent is not None and not isinstance(agent, ConnectorAgent):
        agent = ConnectorAgent.objects.filter(pk=agent).first() if str(agent).isdigit() else None
        if agent is None:
            raise _invalid("agent", gettext("There is no such customer agent."))
    if agent is None:
        raise _invalid("agent", gettext("Choose the customer agent that makes this connector's calls."))
    if agent.revoked_at is not None:
        raise _invalid("agent", gettext("This customer agent is revoked."))
    if auth_scheme != AuthScheme.NONE:
        raise _invalid("auth_scheme", gettext("The customer agent adds the credentials it holds for this host: "
                                              "choose none here."))
    if secret:
        raise _invalid("secret", gettext("A connector routed through a customer agent keeps no secret in Warden: "
                                         "the agent holds the credentials."))
    return agent


def _default_region() -> str:
    tenant = getattr(connection, "tenant", None)
    return getattr(tenant, "region", None) or residency.deployment_region()


def _audit_view(connector: Connector) -> dict:
    return {
        "kind": connector.kind, "name": connector.name, "base_url": connector.base_url,
        "auth_scheme": connector.auth_scheme, "username": connector.username, "region": connector.region,
        "dry_run": connector.dry_run, "daily_write_cap": connector.daily_write_cap, "status": connector.status,
        "route": connector.route, "agent": connector.agent.name if connector.agent_id else None,  # customer agent
    }


@transaction.atomic
def connector_create(*, actor, kind: str, name: str, base_url: str, auth_scheme: str = AuthScheme.BEARER,
                     username: str = "", secret: str = "", region: str | None = None, dry_run: bool = True,
                     daily_write_cap: int = 100, resolver=None, route: str = Route.DIRECT, agent=None) -> Connector:
    policy_require(actor, CONNECTOR_CONFIGURE, None, {"operation": "create", "kind": kind})
    name = (name or "").strip().lower()
    region = region or _default_region()
    _check_common(kind=kind, name=name, auth_scheme=auth_scheme, username=username, daily_write_cap=daily_write_cap,
                  region=region)
    if Connector.objects.filter(name=name).exists():
        raise _invalid("name", gettext("A connector with this name exists."))
    secret = (secret or "").strip()
    agent = _check_route(route=route, agent=agent, auth_scheme=auth_scheme, secret=secret)  # customer agent (0024)
    if auth_scheme != AuthScheme.NONE and not secret:
        raise _invalid("secret", gettext("A secret (token or password) is required for this authentication."))
    url = _check_base_url(kind, base_url, resolver=resolver, route=route)
    now = timezone.now()
    connector = Connector.objects.create(
        kind=kind, name=name, base_url=url, auth_scheme=auth_scheme, username=(username or "").strip(),
        secret=secrets.encrypt(secret) if secret else "", secret_set_at=now if secret else None, region=region,
        dry_run=bool(dry_run), daily_write_cap=int(daily_write_cap), created_at=now, updated_at=now,
        route=route, agent=agent,
    )
    audit_record(actor=actor, action="connector.created", target=connector,
                 payload={**_audit_view(connector), "auth_configured": bool(secret)})
    return connector


_UNSET = object()


@transaction.atomic
def connector_update(*, actor, connector: Connector, name=_UNSET, base_url=_UNSET, auth_scheme=_UNSET,
                     username=_UNSET, secret: str | None = None, region=_UNSET, dry_run=_UNSET,
                     daily_write_cap=_UNSET, enabled=_UNSET, resolver=None, route=_UNSET, agent=_UNSET) -> Connector:
    """Change what is given; `secret` None or "" keeps the secret that is set (write-only).
    Routing a connector through a customer agent removes its secret (the agent holds the
    credentials)."""
    policy_require(actor, CONNECTOR_CONFIGURE, connector, {"operation": "update"})
    connector = Connector.objects.select_for_update().get(pk=connector.pk)
    before = _audit_view(connector)
    values = {
        "name": connector.name if name is _UNSET else (name or "").strip().lower(),
        "auth_scheme": connector.auth_scheme if auth_scheme is _UNSET else auth_scheme,
        "username": connector.username if username is _UNSET else (username or "").strip(),
        "region": connector.region if region is _UNSET else region,
        "daily_write_cap": connector.daily_write_cap if daily_write_cap is _UNSET else int(daily_write_cap),
    }
    _check_common(kind=connector.kind, **values)
    if values["name"] != connector.name and Connector.objects.filter(name=values["name"]).exclude(pk=connector.pk).exists():
        raise _invalid("name", gettext("A connector with this name exists."))
    secret = (secret or "").strip()
    # --- customer agent (0024)
    new_route = connector.route if route is _UNSET else route
    new_agent = _check_route(route=new_route, agent=connector.agent if agent is _UNSET else agent,
                             auth_scheme=values["auth_scheme"], secret=secret)
    secret_removed = new_route == Route.AGENT and bool(connector.secret)
    # --- end customer agent
    if values["auth_scheme"] != AuthScheme.NONE and not secret and not connector.secret:
        raise _invalid("secret", gettext("A secret (token or password) is required for this authentication."))
    if (base_url is not _UNSET and (base_url or "").strip().rstrip("/") != connector.base_url) \
            or new_route != connector.route:
        connector.base_url = _check_base_url(connector.kind, connector.base_url if base_url is _UNSET else base_url,
                                             resolver=resolver, route=new_route)
    connector.route, connector.agent = new_route, new_agent
    if secret_removed:
        connector.secret, connector.secret_set_at = "", None
    for field, value in values.items():
        setattr(connector, field, value)
    if dry_run is not _UNSET:
        connector.dry_run = bool(dry_run)
    now = timezone.now()
    if secret:
        connector.secret, connector.secret_set_at = secrets.encrypt(secret), now
    status_change = None
    if enabled is not _UNSET and bool(enabled) != (connector.status == Status.ACTIVE):
        status_change = "enabled" if enabled else "disabled"
        connector.status = Status.ACTIVE if enabled else Status.DISABLED
        connector.disabled_reason = "" if enabled else gettext("Disabled by an admin.")
    after = _audit_view(connector)
    changed = sorted(key for key in after if after[key] != before[key])
    if not changed and not secret and not secret_removed:
        return connector
    connector.updated_at = now
    connector.save()
    if before["dry_run"] != after["dry_run"]:
        audit_record(actor=actor, action="connector.dry_run_changed", target=connector,
                     payload={"name": connector.name, "from": before["dry_run"], "to": after["dry_run"]})
    if status_change is not None:
        audit_record(actor=actor, action=f"connector.{status_change}", target=connector,
                     payload={"name": connector.name, "reason": "admin"})
        if status_change == "disabled":
            emit(ConnectorDisabled(connector_id=connector.pk, reason="admin"), actor=actor)
    other = [key for key in changed if key not in ("dry_run", "status")]
    if other or secret or secret_removed:
        audit_record(actor=actor, action="connector.updated", target=connector,
                     payload={"name": connector.name, "fields": other,
                              "before": {k: before[k] for k in other}, "after": {k: after[k] for k in other},
                              "auth_replaced": bool(secret), "auth_removed": secret_removed})
    return connector


@transaction.atomic
def connector_delete(*, actor, connector: Connector) -> None:
    policy_require(actor, CONNECTOR_CONFIGURE, connector, {"operation": "delete"})
    payload = _audit_view(connector)
    audit_record(actor=actor, action="connector.deleted", target=connector, payload=payload)
    Connector.objects.filter(pk=connector.pk).delete()


def connector_record_sync(*, connector: Connector, at=None) -> None:
    """A kind's sync finished (state, not configuration: not audited)."""
    at = at or timezone.now()
    Connector.objects.filter(pk=connector.pk).update(last_sync_at=at)
    connector.last_sync_at = at
