"""Reads of the tenant's policies and decision log, and the parsed-rules cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Max, QuerySet

from . import engine
from .models import DecisionLog, PolicySet, PolicyVersion

# Parsed rule sets by (schema, version pk, version number, created_at, row version).
# Versions are immutable in the app, so a change of rules is a new version, hence a new
# key, and the old entry simply ages out. The schema name keeps tenants apart;
# created_at tells apart a tenant dropped and provisioned again under the same schema
# name; the row version (PostgreSQL's xmin, read in the same query as the policy set)
# changes if someone edits a stored version around the app, so even that is never
# served from a stale entry.
RULES_CACHE_SIZE = 256
_rules_cache: OrderedDict[tuple, engine.CompiledRules] = OrderedDict()
_rules_cache_lock = threading.Lock()
_rules_cache_stats = {"hits": 0, "misses": 0}


def policy_set_get() -> PolicySet | None:
    """The tenant's policy set with its version in force (one query)."""
    return PolicySet.objects.select_related("current_version").first()


@dataclass(frozen=True)
class PolicyInForce:
    """What a decision needs to know about the tenant's policy set, read in one query."""

    mode: str
    audit_allows: bool
    version_id: int | None
    version_number: int | None
    version_created_at: datetime | None
    version_row: str | None  # the version row's xmin: changes if the row is ever rewritten


_IN_FORCE_SQL = (
    "SELECT s.mode, s.audit_allows, v.id, v.number, v.created_at, v.xmin::text "
    "FROM {sets} s LEFT JOIN {versions} v ON v.id = s.current_version_id "
    "ORDER BY s.id LIMIT 1"
)


def policy_in_force() -> PolicyInForce | None:
    """The policy set's mode and version in force, without the rules (one small query).

    Hand-written SQL on purpose: it runs once per decision, and the ORM spent several
    times longer compiling the equivalent query than PostgreSQL spent answering it. The
    rules come from `policy_rules_compiled`, which reads them only for a version it has
    not parsed yet.
    """
    quote = connection.ops.quote_name
    sql = _IN_FORCE_SQL.format(sets=quote(PolicySet._meta.db_table), versions=quote(PolicyVersion._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    if row is None:
        return None
    return PolicyInForce(*row)


def policy_rules_compiled(policy: PolicyInForce) -> engine.CompiledRules:
    """The rules of the version in force, parsed and indexed; cached in this process
    (LRU, bounded). Stored versions are parsed with `ANY_ACTION`: an action unregistered
    since the version was published matches nothing instead of making the version
    unusable.
    """
    if policy.version_id is None:
        raise ValueError("no version in force")
    key = (connection.schema_name, policy.version_id, policy.version_number, policy.version_created_at, policy.version_row)
    with _rules_cache_lock:
        compiled = _rules_cache.get(key)
        if compiled is not None:
            _rules_cache.move_to_end(key)
            _rules_cache_stats["hits"] += 1
            return compiled
    rules = PolicyVersion.objects.values_list("rules", flat=True).get(pk=policy.version_id)
    # Parse outside the lock: a slow parse must not hold up decisions on other versions.
    compiled = engine.CompiledRules(engine.parse_rules(rules, known_actions=engine.ANY_ACTION))
    with _rules_cache_lock:
        _rules_cache_stats["misses"] += 1
        _rules_cache[key] = compiled
        _rules_cache.move_to_end(key)
        while len(_rules_cache) > RULES_CACHE_SIZE:
            _rules_cache.popitem(last=False)
    return compiled


def policy_rules_cache_info() -> dict[str, int]:
    """Hits, misses and size of the parsed-rules cache (for tests and metrics)."""
    with _rules_cache_lock:
        return {**_rules_cache_stats, "size": len(_rules_cache)}


def policy_rules_cache_clear() -> None:
    with _rules_cache_lock:
        _rules_cache.clear()
        _rules_cache_stats.update(hits=0, misses=0)


def policy_version_list() -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.select_related("created_by").order_by("-number")


def policy_version_get(*, number: int) -> PolicyVersion | None:
    return policy_version_list().filter(number=number).first()


def policy_version_latest_number() -> int | None:
    return PolicyVersion.objects.aggregate(latest=Max("number"))["latest"]


def decision_log_between(*, since: datetime, until: datetime) -> QuerySet[DecisionLog]:
    return DecisionLog.objects.filter(created_at__gte=since, created_at__lte=until).order_by("created_at", "pk")
