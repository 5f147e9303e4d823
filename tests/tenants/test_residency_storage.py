"""Residency of stored files: placed per region, refused outside the allow-list."""

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from apps.audit.models import AuditEvent
from apps.tenants.models import Tenant
from apps.tenants.residency import ResidencyViolation


def test_files_are_placed_under_the_tenants_region(tenant):
    name = default_storage.save("region-probe.txt", ContentFile(b"x"))
    try:
        assert f"/regions/eu/tenants/{tenant.schema_name}/" in default_storage.path(name)
    finally:
        default_storage.delete(name)


def test_a_us_tenant_files_go_to_the_us_root(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(region="us", allowed_regions=["us", "eu"])
    tenant.region, tenant.allowed_regions = "us", ["us", "eu"]
    name = default_storage.save("region-probe.txt", ContentFile(b"x"))
    try:
        assert f"/regions/us/tenants/{tenant.schema_name}/" in default_storage.path(name)
    finally:
        default_storage.delete(name)


def test_creation_outside_the_allow_list_is_refused_and_audited(tenant):
    tenant.allowed_regions = ["us"]  # home region eu no longer allowed
    with pytest.raises(ResidencyViolation):
        default_storage.save("refused.txt", ContentFile(b"x"))
    assert not default_storage.exists("refused.txt")
    event = AuditEvent.objects.filter(action="residency.refused").latest("seq")
    assert json.loads(bytes(event.payload))["kind"] == "storage"


def test_residency_report(tenant, capsys):
    call_command("residency_report", "--tenant", "alpha")
    report = json.loads(capsys.readouterr().out)
    assert report["declaration"] == {
        "tenant": "alpha", "home_region": "eu", "allowed_regions": ["eu"], "data_mode": "metadata_only",
    }
    assert report["deployment"] == {"region": "eu", "enforced": True, "may_serve_this_tenant": True}
    assert report["evidence"]["storage"]["prefix"] == "tenants/t_alpha/"
    assert report["evidence"]["storage"]["root"].endswith("/regions/eu")
