"""What every new tenant starts with, contributed by the apps above `tenants`.

Provisioning clones a fresh schema and then runs, inside it and inside the provisioning
transaction, the steps other apps registered from their `AppConfig.ready()`: the
governance baseline (policies), a business calendar for the region and the default SLA
policies (sla), ... A step runs once per tenant, when its schema is first created; it
must be idempotent all the same (a partly provisioned tenant is provisioned again).

    register_step(ProvisionStep(name="sla-defaults", order=200, run=sla_defaults_install))

Steps run in `order`, lower first (the governance baseline is 100: later steps write
through services that ask it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProvisionStep:
    name: str
    run: Callable[[object], None]  # called with the tenant, the connection in its schema
    order: int = 500


_STEPS: dict[str, ProvisionStep] = {}


def register_step(step: ProvisionStep) -> None:
    _STEPS[step.name] = step


def steps() -> list[ProvisionStep]:
    return sorted(_STEPS.values(), key=lambda step: (step.order, step.name))


def run_steps(tenant) -> list[str]:
    """Run every registered step for `tenant` (the connection is in its schema)."""
    names = []
    for step in steps():
        step.run(tenant)
        names.append(step.name)
    return names
