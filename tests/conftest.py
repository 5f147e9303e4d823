"""Test infrastructure: real PostgreSQL and Redis, tenant schemas built once per run.

Tenants (created once per session, committed):
  alpha  schema t_alpha  host alpha.localhost  region eu
  beta   schema t_beta   host beta.localhost   region eu
Each has no SLA policies or calendars (provisioned `without_default_sla`: every SLA test
sets up its own), the time zone UTC (a test about time zones sets the zones it is
about), and users admin@<slug>.test, agent@<slug>.test, agent2@<slug>.test,
requester@<slug>.test, requester2@<slug>.test (password PASSWORD), and teams
"Desk" (agent, lead) and "Ops" (agent2).

Most tests use the `tenant` fixture: a rolled-back transaction with the connection in
t_alpha. Tests that need committed data or several connections (concurrency) use
`fresh_tenant`: a throwaway tenant cloned for that test and dropped afterwards.
`@pytest.mark.django_db(transaction=True)` is refused: Django's flush would wipe the
public schema's tenant rows that every other test relies on.
"""

from __future__ import annotations

import contextlib
import uuid

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

PASSWORD = "correct-horse-battery-staple"
TENANTS = {"alpha": "eu", "beta": "eu"}


def pytest_collection_modifyitems(config, items):
    # Browser tests last: Playwright's session-wide event loop stays up until the end.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
            raise pytest.UsageError(
                f"{item.nodeid}: use the `fresh_tenant` fixture instead of django_db(transaction=True)"
            )


def _seed_tenant(slug: str, region: str):
    from apps.accounts.models import Role, Team, User
    from apps.accounts.services import team_add_member, team_create, user_create
    from apps.tenants.services import tenant_provision

    with without_default_sla():
        result = tenant_provision(
            slug=slug, name=slug.title(), region=region, admin_email=f"admin@{slug}.test", admin_password=PASSWORD,
            time_zone="UTC",
        )
    with schema_context(result.tenant.schema_name):
        admin = User.objects.get(email=f"admin@{slug}.test")
        if not User.objects.filter(email=f"agent@{slug}.test").exists():
            agent = user_create(email=f"agent@{slug}.test", role=Role.AGENT, password=PASSWORD, validate=False)
            agent2 = user_create(email=f"agent2@{slug}.test", role=Role.AGENT, password=PASSWORD, validate=False)
            for local in ("requester", "requester2"):
                user_create(email=f"{local}@{slug}.test", role=Role.REQUESTER, password=PASSWORD, validate=False)
            team_create(name="Desk", lead=agent, actor=admin)
            team_add_member(team=team_create(name="Ops", actor=admin), user=agent2, actor=admin)
        assert Team.objects.count() >= 2
    return result.tenant


@contextlib.contextmanager
def without_default_sla():
    """Provision without the SLA defaults step. New tenants start with default SLA
    calendars and policies (tests/tenants/test_provisioning.py proves it); the test
    tenants start without, so that each SLA test sets up exactly the policies it is about."""
    from apps.tenants import provisioning

    step = provisioning._STEPS.pop("sla-defaults")
    try:
        yield
    finally:
        provisioning.register_step(step)


def _on_test_database() -> bool:
    from django.conf import settings

    db = settings.DATABASES["default"]
    test_name = (db.get("TEST") or {}).get("NAME")  # config.settings.test names it test_warden_<pid>
    return db["NAME"] == test_name if test_name else db["NAME"].startswith("test_")


@pytest.fixture(scope="session")
def django_db_setup(request, django_db_setup, django_db_blocker, django_db_keepdb, django_db_createdb):
    """The test database with the seeded tenants, whatever subset of tests was selected.

    pytest-django creates the test database only when a selected test asks for `db` (it
    reads the selected items' markers and fixture names), so a run of committed-data
    tests alone (`django_db_setup` + `django_db_blocker`, e.g. picked with `-k`) would
    otherwise find the settings still naming the development database. Create it here
    in that case, with pytest-django's keep/create options, and drop it at the end as
    pytest-django would have.
    """
    from django.core.cache import cache
    from django.db import DEFAULT_DB_ALIAS
    from django.test.utils import setup_databases, teardown_databases

    keepdb = django_db_keepdb and not django_db_createdb
    created = None
    if not _on_test_database():
        with django_db_blocker.unblock():
            created = setup_databases(
                verbosity=request.config.option.verbose, interactive=False, aliases={DEFAULT_DB_ALIAS}, keepdb=keepdb
            )
    # Never seed a non-test database.
    assert _on_test_database(), "the test database was not set up"
    cache.clear()  # the test Redis database: nothing left over from an earlier run
    with django_db_blocker.unblock():
        for slug, region in TENANTS.items():
            _seed_tenant(slug, region)
        connection.set_schema_to_public()
    yield
    if created is not None and not keepdb:
        with django_db_blocker.unblock():
            teardown_databases(created, verbosity=request.config.option.verbose)


def _tenant(slug: str):
    from apps.tenants.models import Tenant

    return Tenant.objects.get(slug=slug)


@pytest.fixture
def tenant(db):
    """Tenant alpha, with the connection in its schema for the test."""
    connection.set_schema_to_public()
    current = _tenant("alpha")
    connection.set_tenant(current)
    yield current
    connection.set_schema_to_public()


@pytest.fixture
def other_tenant(tenant):
    connection.set_schema_to_public()
    other = _tenant("beta")
    connection.set_tenant(tenant)
    return other


@pytest.fixture
def fresh_tenant(django_db_setup, django_db_blocker):
    """A committed throwaway tenant (for concurrency tests); dropped afterwards."""
    from apps.tenants.models import Domain, Tenant
    from apps.tenants.services import tenant_provision

    slug = f"tx-{uuid.uuid4().hex[:10]}"
    with django_db_blocker.unblock():
        with without_default_sla():
            created = tenant_provision(
                slug=slug, name="Throwaway", region="eu", admin_email=f"admin@{slug}.test", admin_password=PASSWORD,
                time_zone="UTC",
            ).tenant
        connection.set_tenant(created)
        try:
            yield created
        finally:
            connection.set_schema_to_public()
            with connection.cursor() as cur:
                cur.execute(f'DROP SCHEMA IF EXISTS "{created.schema_name}" CASCADE')
            Domain.objects.filter(tenant_id=created.pk).delete()
            Tenant.objects.filter(pk=created.pk).delete()


def _user(email: str):
    from apps.accounts.models import User

    return User.objects.get(email=email)


@pytest.fixture
def admin_user(tenant):
    return _user("admin@alpha.test")


@pytest.fixture
def agent_user(tenant):
    return _user("agent@alpha.test")


@pytest.fixture
def agent2_user(tenant):
    return _user("agent2@alpha.test")


@pytest.fixture
def requester_user(tenant):
    return _user("requester@alpha.test")


@pytest.fixture
def requester2_user(tenant):
    return _user("requester2@alpha.test")


@pytest.fixture
def users(admin_user, agent_user, requester_user):
    return {"admin": admin_user, "agent": agent_user, "requester": requester_user}


TENANT_HOST = "alpha.localhost"
OTHER_HOST = "beta.localhost"
PLATFORM_HOST = "localhost"


@pytest.fixture
def api_client(tenant):
    """Anonymous API client on tenant alpha's host."""
    return APIClient(HTTP_HOST=TENANT_HOST)


@pytest.fixture
def api_as(tenant):
    """`api_as(user)`: an API client authenticated with the user's real token."""
    from apps.accounts.services import token_issue

    def make(user, host: str = TENANT_HOST) -> APIClient:
        client = APIClient(HTTP_HOST=host)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user).key}")
        return client

    return make


@pytest.fixture
def web_as(tenant):
    """`web_as(user)`: a Django test client with a real session for the user."""
    from django.test import Client

    def make(user, host: str = TENANT_HOST) -> Client:
        client = Client(HTTP_HOST=host)
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return make


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own (broker and cache for the processes it starts),
    which the test may stop and start again (`.stop()`, `.start()`)."""
    from tests.workers import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def beat_schedule(django_db_setup, django_db_blocker):
    """`beat_schedule({"sla-sweep": 2})`: the real periodic entries (as `sync_periodic_tasks`
    writes them) with the named ones every N seconds and every other entry disabled. The
    rows are put back as they were afterwards (they live in the public schema)."""
    import json

    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from apps.core import periodic

    with django_db_blocker.unblock():
        current = connection.tenant if connection.schema_name != "public" else None
        connection.set_schema_to_public()
        before = {row.pk: (row.enabled, row.interval_id, row.kwargs, row.last_run_at) for row in PeriodicTask.objects.all()}
        if current is not None:
            connection.set_tenant(current)

    def configure(seconds_by_entry: dict[str, int]) -> None:
        with django_db_blocker.unblock():
            current = connection.tenant if connection.schema_name != "public" else None
            connection.set_schema_to_public()
            names = periodic.sync()
            assert set(seconds_by_entry) <= set(names), names
            wanted = [f"warden:{name}" for name in seconds_by_entry]
            for name, seconds in seconds_by_entry.items():
                interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
                row = PeriodicTask.objects.get(name=f"warden:{name}")
                kwargs = json.loads(row.kwargs)
                row.interval, row.kwargs, row.last_run_at = interval, json.dumps({**kwargs, "jitter_seconds": 0}), None
                row.enabled = True
                row.save()
            PeriodicTask.objects.exclude(name__in=wanted).update(enabled=False)
            if current is not None:
                connection.set_tenant(current)

    yield configure
    with django_db_blocker.unblock():
        current = connection.tenant if connection.schema_name != "public" else None
        connection.set_schema_to_public()
        PeriodicTask.objects.exclude(pk__in=list(before)).delete()
        for pk, (enabled, interval_id, kwargs, last_run_at) in before.items():
            PeriodicTask.objects.filter(pk=pk).update(enabled=enabled, interval_id=interval_id, kwargs=kwargs,
                                                      last_run_at=last_run_at)
        if current is not None:
            connection.set_tenant(current)


@pytest.fixture
def relay():
    """`relay()`: run the outbox relay in this process until nothing is due."""
    from apps.events.services.relay import relay_run

    def run(rounds: int = 10) -> int:
        delivered = 0
        for _ in range(rounds):
            result = relay_run(budget_seconds=30)
            delivered += result.delivered
            if not result.claimed:
                break
        return delivered

    return run


@pytest.fixture
def due_now():
    """Let time pass: every waiting message and deferred delivery is due now."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.events.models import Delivery
    from apps.notifications.models import Message

    def move() -> None:
        past = timezone.now() - timedelta(seconds=1)
        Message.objects.filter(status="pending").update(send_after=past)
        Delivery.objects.filter(status__in=["pending", "failed"]).update(next_attempt_at=past)

    return move
