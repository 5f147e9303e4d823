"""The demo: two sample tenants with people, SLA policies and tickets (`make demo`).

A top-layer app: it seeds through the services of every app below it."""
