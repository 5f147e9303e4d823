"""Reads of the tenant's policies and decision log, and the parsed-rules cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

from django.db import connection
from django.db.models import Max, QuerySet
from django.db.models.expressions import RawSQL

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


def policy_set_for_decision() -> PolicySet | None:
    """The policy set and its version in force, without the rules' JSON (one query).

    The decision point reads the rules through `policy_rules_compiled`, which loads
    them only when the version is not cached yet: decoding the JSON of a large rule
    set on every decision would cost more than evaluating it.
    """
    return (
        PolicySet.objects.select_related("current_version")
        .defer("current_version__rules")
        .annotate(rules_row_version=RawSQL(f'"{PolicyVersion._meta.db_table}"."xmin"::text', ()))  # noqa: S611 - constant
        .first()
    )


def policy_rules_compiled(version: PolicyVersion, *, row_version: str | None = None) -> engine.CompiledRules:
    """`version`'s rules, parsed and indexed; cached in this process (LRU, bounded).

    `row_version` is the version row's xmin (`policy_set_for_decision` reads it); without
    it, it is read here. Stored versions are parsed with `ANY_ACTION`: an action
    unregistered since the version was published matches nothing instead of making the
    version unusable.
    """
    if row_version is None:
        row_version = (
            PolicyVersion.objects.filter(pk=version.pk)
            .annotate(row_version=RawSQL("xmin::text", ()))
            .values_list("row_version", flat=True)
            .first()
        )
    key = (connection.schema_name, version.pk, version.number, version.created_at, row_version)
    with _rules_cache_lock:
        compiled = _rules_cache.get(key)
        if compiled is not None:
            _rules_cache.move_to_end(key)
            _rules_cache_stats["hits"] += 1
            return compiled
    # Parse outside the lock: a slow parse must not hold up decisions on other versions.
    compiled = engine.CompiledRules(engine.parse_rules(version.rules, known_actions=engine.ANY_ACTION))
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
