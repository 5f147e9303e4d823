"""The Celery app: tenant-aware (tenant-schemas-celery), configured from Django settings."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = CeleryApp("warden")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _load_worker_metrics(sender, **kwargs) -> None:
    from apps.core import worker_metrics  # noqa: F401  (connects the Celery signals)
