"""Base classes for Celery tasks.

`tenant_task` tasks always run inside a tenant schema. The tenant travels in the
`_schema_name` header stamped at send time by tenant-schemas-celery, so they must be
enqueued from tenant context. One sent from the public schema is refused at send time;
one that still arrives without a tenant (a hand-crafted message, an old client) is
refused and logged by the worker, never run in the public schema. Before a task runs,
the guards that higher apps registered (`register_run_guard`) may refuse it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Task, current_app, shared_task
from celery.exceptions import Reject
from django.db import connection, transaction
from tenant_schemas_celery.task import TenantTask

from . import request_id

logger = logging.getLogger(__name__)

PUBLIC = "public"


class TenantContextMissing(RuntimeError):
    pass


# Checks every tenant task passes before it runs in its tenant (e.g. residency, which the
# tenants app registers from its ready()); a guard refuses by raising.
RUN_GUARDS: list[Callable[[Task], None]] = []


def register_run_guard(guard: Callable[[Task], None]) -> None:
    if guard not in RUN_GUARDS:
        RUN_GUARDS.append(guard)


def _schema_from_headers(options: dict) -> str | None:
    headers = options.get("headers") or {}
    return headers.get("_schema_name")


class TenantOnlyTask(TenantTask):
    abstract = True

    def apply_async(self, args=None, kwargs=None, **options):
        schema = _schema_from_headers(options) or connection.schema_name
        if schema == PUBLIC:
            logger.error("refused to enqueue tenant task %s without a tenant", self.name)
            raise TenantContextMissing(f"{self.name} must be enqueued inside a tenant context")
        headers = dict(options.get("headers") or {})
        if request_id.current() is not None:
            headers.setdefault("request_id", request_id.current())
        options["headers"] = headers
        return super().apply_async(args, kwargs, **options)

    def __call__(self, *args, **kwargs):
        if connection.schema_name == PUBLIC:
            sent_for = (self.request.headers or {}).get("_schema_name") or getattr(self.request, "_schema_name", None)
            if sent_for and sent_for != PUBLIC:
                # tenant-schemas-celery found no tenant for it: deleted since it was sent.
                logger.error("dropped tenant task %s (id %s): its tenant %s no longer exists",
                             self.name, self.request.id, sent_for)
                raise Reject(f"{self.name} was sent for {sent_for}, which no longer exists", requeue=False)
            logger.error("refused to run tenant task %s (id %s) in the public schema", self.name, self.request.id)
            raise Reject(f"{self.name} arrived without a tenant", requeue=False)
        for guard in RUN_GUARDS:
            guard(self)
        incoming = getattr(self.request, "request_id", None) or (self.request.headers or {}).get("request_id")
        token = request_id.set(incoming or self.request.id)
        try:
            return super().__call__(*args, **kwargs)
        finally:
            request_id.reset(token)


def tenant_task(*args, **kwargs):
    """`@tenant_task` = `@shared_task(base=TenantOnlyTask)`."""
    kwargs.setdefault("base", TenantOnlyTask)
    return shared_task(*args, **kwargs)


def enqueue_on_commit(task, **kwargs) -> None:
    """Send `task(**kwargs)` once the current transaction commits, in the tenant that is
    current *now*. `task` is a task or a registered task's name (so that a services
    module need not import its app's tasks module, which imports the services).

    `transaction.on_commit(task.delay)` registered inside `schema_context` but fired after
    it exits (the outer transaction commits later) would stamp whatever schema is current
    at commit time, often the public one. The schema is captured here, at registration,
    and sent explicitly as tenant-schemas-celery's `_schema_name` header.

    A broker that cannot be reached after the commit is logged, not raised: the write
    committed. Work that must survive such an outage goes through the event outbox.
    """
    name = task if isinstance(task, str) else task.name
    schema = connection.schema_name
    if schema == PUBLIC:
        logger.error("refused to enqueue tenant task %s without a tenant", name)
        raise TenantContextMissing(f"{name} must be enqueued inside a tenant context")
    # The request id too: the commit may fire after the request's own context is gone.
    headers = {"_schema_name": schema}
    if request_id.current() is not None:
        headers["request_id"] = request_id.current()

    def send() -> None:
        # After COMMIT: the write stands whatever happens here, so a broker that is down
        # must not turn the caller's success into an error. Said loudly instead.
        try:
            found = current_app.tasks.get(task) if isinstance(task, str) else task
            if found is None:  # a web process imports only the task modules it uses
                current_app.send_task(task, kwargs=kwargs, headers=headers)
            else:
                found.apply_async(kwargs=kwargs, headers=headers)
        except Exception:
            logger.exception("could not enqueue %s for %s after commit (is the broker down?)", name, schema)

    transaction.on_commit(send)


@tenant_task(name="core.ping")
def ping(token: str = "") -> str:
    """Round-trip check: notes the schema it ran in under a tenant-prefixed cache key."""
    from django.core.cache import cache

    cache.set(f"core.ping:{token}", connection.schema_name, timeout=300)
    return connection.schema_name
