"""Fixtures of the SLA tests (tenants and users come from tests/conftest.py)."""

from __future__ import annotations

from datetime import time

import pytest

from .factories import make_calendar, make_policy


@pytest.fixture(autouse=True)
def _sla_settings(settings):
    settings.WARDEN_SLA_AT_RISK_PERCENT = 75
    settings.WARDEN_SLA_EMAIL = True
    return settings


@pytest.fixture
def always_open(tenant, admin_user):
    return make_calendar(actor=admin_user, name="Always")


@pytest.fixture
def office(tenant, admin_user):
    """Warsaw, Monday to Friday 09:00-17:00, Polish public holidays."""
    return make_calendar(
        actor=admin_user, name="Warsaw office", timezone_name="Europe/Warsaw", hours=(time(9), time(17)), country="PL"
    )


@pytest.fixture
def standard_policy(always_open, admin_user):
    """Every priority: first response 60 min, resolution 240 min, 24x7, pause on pending."""
    return make_policy(calendar=always_open, actor=admin_user)
