"""File storage placed per tenant and per region.

Every name is stored under `tenants/<schema>/` (computed on each call from the current
tenant) inside the storage of the tenant's home region: `WARDEN_STORAGE_BACKENDS[region]`
(any Django storage, e.g. an S3 bucket in that region) or, by default, a filesystem root
`<MEDIA_ROOT>/regions/<region>`. Creating a file is refused (and audited) when the
tenant's allowed regions exclude its storage region or this deployment's region.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage
from django.db import connection
from django.utils.deconstruct import deconstructible
from django.utils.module_loading import import_string


class NoPublicURL(ValueError):
    """Tenant files are served only through signed, audited downloads."""


class NoTenantStorage(RuntimeError):
    """Tenant files can only be read or written inside a tenant context."""


@functools.cache
def _backend_for(region: str) -> Storage:
    configured = (getattr(settings, "WARDEN_STORAGE_BACKENDS", {}) or {}).get(region)
    if configured:
        return import_string(configured["BACKEND"])(**configured.get("OPTIONS", {}))
    from .residency import region_storage_root

    return FileSystemStorage(location=region_storage_root(region), base_url=None)


def _current_tenant():
    schema = connection.schema_name
    if not schema or schema == "public":
        raise NoTenantStorage("tenant files need a tenant context")
    tenant = connection.tenant
    if getattr(tenant, "region", None) is None:  # a FakeTenant from schema_context()
        from .models import Tenant

        tenant = Tenant.objects.get(schema_name=schema)
    return tenant


@deconstructible
class RegionalTenantStorage(Storage):
    def _prefix(self) -> str:
        return f"tenants/{connection.schema_name}/"

    def _backend(self) -> Storage:
        return _backend_for(_current_tenant().region)

    def _key(self, name: str) -> str:
        return self._prefix() + name

    def _open(self, name, mode="rb"):
        return self._backend().open(self._key(name), mode)

    def _save(self, name, content):
        self._check_creation()
        stored = self._backend().save(self._key(name), content)
        return stored[len(self._prefix()):]

    def _check_creation(self) -> None:
        from . import residency

        tenant = _current_tenant()
        storage_allowed = tenant.region in tenant.effective_allowed_regions
        if not storage_allowed or not residency.may_serve(tenant):
            residency.audit_refusal(kind="storage", detail=f"file creation in region {tenant.region}")
            raise residency.ResidencyViolation(tenant, residency.deployment_region())

    def delete(self, name):
        self._backend().delete(self._key(name))

    def exists(self, name):
        return self._backend().exists(self._key(name))

    def size(self, name):
        return self._backend().size(self._key(name))

    def path(self, name):
        return self._backend().path(self._key(name))

    def url(self, name):
        # Files are served only through signed, audited download views, never by URL.
        raise NoPublicURL("tenant files have no public URL; use the signed download view")

    def listdir(self, path):
        return self._backend().listdir(self._key(path))

    def get_modified_time(self, name):
        return self._backend().get_modified_time(self._key(name))

    def get_created_time(self, name):
        return self._backend().get_created_time(self._key(name))
