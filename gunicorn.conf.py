"""gunicorn settings shared by every way Warden is served with gunicorn (the Docker
image, the benchmarks). gunicorn reads `./gunicorn.conf.py` on its own; command-line
flags still win over what is set here.

Garbage collection: a Django worker holds a few hundred thousand long-lived objects
(modules, URL patterns, templates, model metadata). Python's full collections walk all
of them, which showed as a 80-200 ms stall every few requests of a large page (the
Kanban board: p50 35 ms, p95 above 250 ms). Once the worker has loaded the application,
everything it holds is moved out of the collector's sight with `gc.freeze()`; the
objects a request creates are still collected as usual.
"""

from __future__ import annotations

import gc

wsgi_app = "config.wsgi:application"


def post_worker_init(worker) -> None:
    # Import what the first request would, so that it is frozen too.
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - loads every URLconf module
    gc.collect()
    gc.freeze()
