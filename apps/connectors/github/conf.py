"""Settings of the GitHub connector, with their defaults (override in config/settings)."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # A webhook body larger than this is refused (413) before anything is read into
    # memory; GitHub's issue and comment deliveries are a few tens of kilobytes.
    "WARDEN_GITHUB_WEBHOOK_MAX_BYTES": 1024 * 1024,
    # How many GitHub connectors' secrets the hook tries when the URL names none.
    "WARDEN_GITHUB_WEBHOOK_MAX_CANDIDATES": 10,
    # Reconciliation: pages of 100 read per repository and list per run (the rest is read
    # by the next run, from where this one stopped), and how far before the watermark it
    # reads again (GitHub's lists are not instantly consistent).
    "WARDEN_GITHUB_RECONCILE_MAX_PAGES": 10,
    "WARDEN_GITHUB_RECONCILE_OVERLAP_SECONDS": 120,
    "WARDEN_GITHUB_RECONCILE_EVERY_SECONDS": 900,
    # Before re-sending an issue creation that may have reached GitHub, this many pages
    # of the repository's recent issues are searched for the link's marker.
    "WARDEN_GITHUB_ADOPT_MAX_PAGES": 3,
    # Processed deliveries are forgotten after this many days.
    "WARDEN_GITHUB_DELIVERY_RETENTION_DAYS": 30,
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])
