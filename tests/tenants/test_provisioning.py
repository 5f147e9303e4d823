import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import schema_context

from apps.accounts.models import Role, User
from apps.tenants import schema as schemas
from apps.tenants.models import Domain, Tenant
from apps.tenants.services import tenant_provision


def _provision(capsys, *args):
    call_command("provision_tenant", *args)
    return json.loads(capsys.readouterr().out)


def test_provision_tenant_prints_json_and_is_idempotent(db, capsys):
    args = ["--slug", "delta", "--name", "Delta Ltd", "--region", "us", "--admin-email", "Boss@Delta.test",
            "--admin-password", "a-long-enough-password"]
    first = _provision(capsys, *args)
    assert first["created"] is True
    assert first["admin_created"] is True
    assert first["schema"] == "t_delta"
    assert first["domain"] == "delta.localhost"
    second = _provision(capsys, *args)
    assert second["created"] is False
    assert second["admin_created"] is False
    assert Tenant.objects.filter(slug="delta").count() == 1
    assert Domain.objects.filter(domain="delta.localhost").count() == 1
    with schema_context("t_delta"):
        admin = User.objects.get(email="boss@delta.test")
        assert admin.role == Role.ADMIN
        assert admin.is_staff
        assert admin.check_password("a-long-enough-password")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slug", "Bad_Slug!", "--name", "X", "--region", "eu"], "slug"),
        (["--slug", "public", "--name", "X", "--region", "eu"], "reserved"),
        (["--slug", "alpha", "--name", "Alpha", "--region", "us"], "already exists in region"),
    ],
)
def test_provision_tenant_rejects_bad_input_with_one_line(db, args, message):
    with pytest.raises(CommandError) as excinfo:
        call_command("provision_tenant", *args, "--admin-email", "a@b.test")
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_unknown_region_is_refused_by_the_parser(db):
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("provision_tenant", "--slug", "zeta", "--name", "Z", "--region", "mars", "--admin-email", "a@b.test")


def test_clone_keeps_named_unique_constraints(tenant):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = %s AND contype = 'u'",
            [tenant.schema_name],
        )
        names = {row[0] for row in cur.fetchall()}
    assert "accounts_membership_unique" in names


def test_clone_catalog_equals_base_catalog(tenant):
    assert schemas.schema_catalog(tenant.schema_name) == schemas.schema_catalog(schemas.base_schema_name())


def test_refuses_to_clone_while_base_is_behind(db):
    connection.set_schema_to_public()
    base = schemas.base_schema_name()
    with connection.cursor() as cur:
        cur.execute(f'DELETE FROM "{base}".django_migrations WHERE app = %s AND name = %s', ["accounts", "0001_initial"])
    with pytest.raises(schemas.BaseSchemaNotReady, match="accounts.0001_initial"):
        tenant_provision(slug="behind", name="Behind", region="eu", admin_email="a@behind.test")
    assert not Tenant.objects.filter(slug="behind").exists()
    assert not schemas.schema_exists("t_behind")


def test_migrate_schemas_keeps_base_current(db):
    connection.set_schema_to_public()
    assert schemas.pending_base_migrations() == []


@pytest.mark.slow
def test_cloned_tenant_catalog_equals_a_migrated_tenant(django_db_setup, django_db_blocker):
    """A schema built by replaying every migration looks exactly like a cloned tenant."""
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        with connection.cursor() as cur:
            cur.execute('DROP SCHEMA IF EXISTS "ref_migrated" CASCADE; CREATE SCHEMA "ref_migrated"')
        try:
            call_command("migrate_schemas", "--tenant", "--schema=ref_migrated", verbosity=0, interactive=False)
            connection.set_schema_to_public()
            migrated = schemas.schema_catalog("ref_migrated")
            cloned = schemas.schema_catalog("t_alpha")
            for kind in migrated:
                assert migrated[kind] == cloned[kind], kind
        finally:
            connection.set_schema_to_public()
            with connection.cursor() as cur:
                cur.execute('DROP SCHEMA IF EXISTS "ref_migrated" CASCADE')


@pytest.mark.parametrize(
    ("allowed", "problem"),
    [
        (["mars"], "Unknown region(s): mars"),
        (["eu", "eu"], "Each region once."),
        (["us"], "Must include the home region eu"),
        ("eu", "A list of regions"),
    ],
)
def test_allowed_regions_are_validated_by_the_model(db, allowed, problem):
    from django.core.exceptions import ValidationError

    connection.set_schema_to_public()
    tenant = Tenant.objects.get(slug="alpha")
    tenant.allowed_regions = allowed
    with pytest.raises(ValidationError) as excinfo:
        tenant.full_clean()
    assert any(problem in message for message in excinfo.value.message_dict["allowed_regions"])
    tenant.allowed_regions = ["eu", "us"]
    tenant.full_clean()


def test_the_database_refuses_unknown_allowed_regions(db):
    from django.db import IntegrityError, transaction

    connection.set_schema_to_public()
    with pytest.raises(IntegrityError), transaction.atomic():
        Tenant.objects.filter(slug="alpha").update(allowed_regions=["eu", "mars"])
    assert Tenant.objects.get(slug="alpha").allowed_regions == []


def test_platform_admin_form_refuses_bad_allowed_regions(db):
    from django.test import Client

    from apps.accounts.models import User

    connection.set_schema_to_public()
    root = User.objects.filter(email="root@platform.test").first() or User.objects.create_superuser(
        "root@platform.test", "platform-password-1"
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(root)
    beta = Tenant.objects.get(slug="beta")
    form = {
        "name": beta.name, "allowed_regions": '["us"]', "data_mode": beta.data_mode, "status": beta.status,
        "suspended_reason": "", "display_name": "", "logo": "", "primary_colour": beta.primary_colour,
        "time_zone": beta.time_zone,
        "domains-TOTAL_FORMS": "0", "domains-INITIAL_FORMS": "0",
    }
    response = client.post(f"/admin/tenants/tenant/{beta.pk}/change/", form)
    assert response.status_code == 200
    assert b"Must include the home region eu" in response.content
    assert Tenant.objects.get(pk=beta.pk).allowed_regions == []
    response = client.post(f"/admin/tenants/tenant/{beta.pk}/change/", {**form, "allowed_regions": '["eu", "us"]'})
    assert response.status_code == 302, response.content[:3000]
    assert Tenant.objects.get(pk=beta.pk).allowed_regions == ["eu", "us"]


def test_printed_tenant_urls_carry_the_public_port(tenant):
    from django.test import override_settings

    with override_settings(WARDEN_PUBLIC_PORT="8000"):
        assert tenant.url() == "http://alpha.localhost:8000/"
    with override_settings(WARDEN_PUBLIC_PORT=""):
        assert tenant.url("/portal/") == "http://alpha.localhost/portal/"


def test_a_new_tenant_starts_with_business_calendars_and_sla_policies(db, capsys):
    """Its first ticket already has clocks: no manual step between provisioning and work."""
    from apps.audit.models import AuditEvent
    from apps.sla.models import SlaCalendar, SlaClock, SlaPolicy
    from apps.tickets.services import ticket_create

    args = ["--slug", "epsilon", "--name", "Epsilon", "--region", "us", "--admin-email", "boss@epsilon.test"]
    _provision(capsys, *args)
    _provision(capsys, *args)  # again: nothing added twice
    with schema_context("t_epsilon"):
        calendars = {c.name: c for c in SlaCalendar.objects.all()}
        assert set(calendars) == {"Around the clock", "Office hours (New York)"}
        office = calendars["Office hours (New York)"]
        assert (office.timezone, office.holiday_country, office.always_open) == ("America/New_York", "US", False)
        assert office.shifts.count() == 5
        policies = list(SlaPolicy.objects.order_by("order"))
        covered = {priority for policy in policies for priority in policy.targets}
        assert covered == {"P1", "P2", "P3", "P4"}
        assert all(policy.active and policy.targets[p]["resolution"] > policy.targets[p]["first_response"]
                   for policy in policies for p in policy.targets)
        created = AuditEvent.objects.filter(action__in=["sla.calendar_created", "sla.policy_created"])
        assert created.count() == 4
        assert {event.actor_label for event in created} == {"system"}
        admin = User.objects.get(email="boss@epsilon.test")
        for impact in (1, 3):
            ticket = ticket_create(actor=admin, title="First ticket", impact=impact, urgency=impact)
            assert set(SlaClock.objects.filter(ticket=ticket).values_list("metric", flat=True)) == {
                "first_response", "resolution"
            }
