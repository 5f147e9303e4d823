"""Warden's Celery app with the outbox probe subscriber registered (tests/events/probe.py),
for worker processes the outbox tests start: `celery -A tests.events.probe_app worker`."""

from celery.signals import worker_init

from config.celery import app

__all__ = ["app"]


@worker_init.connect
def _register_probe(**kwargs) -> None:
    import django

    django.setup()
    from tests.events import probe

    probe.register()
